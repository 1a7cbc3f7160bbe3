"""Generation: answers grounded in knowledge bases (Bedrock's RetrieveAndGenerate and its
stream), with citations and sessions, over any generation model of the registry.

Above ``kb`` (it retrieves through a knowledge base's Retrieve) and a client of the service
API. ``models`` finds the model a request names, ``answers`` builds the prompt and reads the
answer, ``citations`` links its sentences to the passages, ``sessions`` keeps earlier turns in
the store; ``providers`` hold the models (the offline llama.cpp one, an OpenAI-compatible
server); ``service`` puts them in front of the knowledge bases.
"""

from .service import AnsweringKnowledgeBases, knowledge_bases

__all__ = ["AnsweringKnowledgeBases", "knowledge_bases"]
