"""Speech, offline: recordings synthesised with espeak-ng (tests/data/speech) are transcribed
by the packaged Whisper base and embedded as their words, with the index's text model."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import openai
from conftest import Server
from test_embed_cli import runner
from test_embed_server import API_KEY, embed_server  # noqa: F401 (a fixture)

from vetor.cli import app
from vetor.embed import CONTENT_KEY, LOCATION_KEY
from vetor.models import get_transcriber

SPEECH = Path(__file__).parent / "data" / "speech"


def test_whisper_transcribes_a_recording() -> None:
    transcript = get_transcriber().transcribe((SPEECH / "bread.wav").read_bytes())
    assert "sourdough bread" in transcript.text.lower()
    assert transcript.language == "en"


def test_recordings_are_found_by_what_they_say(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path / "data"), "-o", "json"]
    put = runner.invoke(app, ["embed", "put", "talks", "clips", "--audio", str(SPEECH), *data])
    assert put.exit_code == 0, put.output
    assert json.loads(put.stdout)["vectors"] == 2
    for question, expected in (
        ("How do I bake bread at home?", "bread.wav"),
        ("What comes out of a mountain that explodes?", "volcano.wav"),
    ):
        reply = runner.invoke(
            app, ["embed", "query", "talks", "clips", question, "--k", "1", *data]
        )
        top = json.loads(reply.stdout)["results"][0]["metadata"]
        assert top[LOCATION_KEY].endswith("/" + expected), question
    spoken = runner.invoke(
        app, ["embed", "query", "talks", "clips", "--audio", str(SPEECH / "volcano.wav"), *data]
    )
    top = json.loads(spoken.stdout)["results"][0]["metadata"]
    assert top[LOCATION_KEY].endswith("/volcano.wav") and "lava" in top[CONTENT_KEY]


def test_the_embeddings_endpoint_takes_a_recording(embed_server: Server) -> None:  # noqa: F811
    client = openai.OpenAI(base_url=f"{embed_server.endpoint}/v1", api_key=API_KEY)
    audio = base64.b64encode((SPEECH / "volcano.wav").read_bytes()).decode()
    inputs = [
        f"data:audio/wav;base64,{audio}",
        "Volcanoes erupt when molten rock bursts out as lava and ash.",
        "Feed the sourdough starter with flour and water.",
    ]
    reply = client.embeddings.create(model="all-MiniLM-L6-v2", input=inputs)
    spoken, same, other = (np.asarray(d.embedding) for d in reply.data)
    assert spoken @ same > 0.8 > spoken @ other
