"""Text-generation providers: one module each, registered in ``vetor.models.registry``."""
