"""Protocol adapters: HTTP in, decoded and checked requests to a service handler, HTTP out.

``restjson`` and ``query`` serve any botocore-modelled service from its model (``shapes``
reads it; ``openapi`` describes it); ``openai`` speaks the OpenAI-compatible routes.
"""
