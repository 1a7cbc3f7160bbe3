#!/usr/bin/env python3
"""llama.cpp's own OpenAI-compatible server (``llama_cpp.server``, the extra
``llama-cpp-python[server]``), for a stronger model than the offline default to compare with
or route to::

    python3 bench/llama_server.py --model qwen2.5-coder-1.5b.gguf --model_alias qwen --port 8088

The arguments are ``llama_cpp.server``'s. What this adds: on a CPU with AMX the models load
without llama.cpp's extra weight buffers, as vetor's offline provider loads them (their AMX
matrix multiply crashes llama-cpp-python 0.3.36 on Sapphire Rapids VMs).
"""

from __future__ import annotations

import runpy

from llama_cpp import llama_cpp as bindings

from vetor.generation.providers.llama_cpp import _has_amx

if _has_amx():
    default = bindings.llama_model_default_params

    def without_extra_buffers():  # type: ignore[no-untyped-def]
        chosen = default()
        chosen.use_extra_bufts = False
        return chosen

    bindings.llama_model_default_params = without_extra_buffers

runpy.run_module("llama_cpp.server", run_name="__main__")
