"""Images for a text model, offline: pictures rendered here from sentences are read by the
packaged OCR models and embedded as their words, so a question finds the right picture."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import openai
from conftest import Server
from PIL import Image, ImageDraw, ImageFont
from test_embed_cli import runner
from test_embed_server import API_KEY, embed_server  # noqa: F401 (a fixture)

from vetor.cli import app
from vetor.embed import CONTENT_KEY, LOCATION_KEY

SIGNS = {
    "refunds.png": "Refunds are paid back within\nfive business days of the return.",
    "wifi.png": "The office Wi-Fi password changes\nevery Monday at nine.",
    "parking.png": "Visitors may park in the north lot\nfor up to two hours.",
}


def render(text: str) -> bytes:
    """A picture of ``text``, black on white, as a screenshot or a slide would show it."""
    font = ImageFont.load_default(size=36)
    image = Image.new("RGB", (1000, 60 + 50 * text.count("\n")), "white")
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(text.splitlines()):
        draw.text((20, 15 + 50 * n), line, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_pictures_of_text_are_found_by_what_they_say(tmp_path: Path) -> None:
    folder = tmp_path / "signs"
    folder.mkdir()
    for name, text in SIGNS.items():
        (folder / name).write_bytes(render(text))
    data = ["--data", str(tmp_path / "data"), "-o", "json"]
    put = runner.invoke(app, ["embed", "put", "office", "signs", "--image", str(folder), *data])
    assert put.exit_code == 0, put.output
    assert json.loads(put.stdout)["vectors"] == len(SIGNS)
    for question, expected in (
        ("When do I get my money back?", "refunds.png"),
        ("How long can a guest leave their car?", "parking.png"),
    ):
        ask = ["embed", "query", "office", "signs", question, "--k", "1"]
        top = json.loads(runner.invoke(app, [*ask, *data]).stdout)["results"][0]["metadata"]
        assert top[LOCATION_KEY].endswith("/" + expected), question
    assert "Monday" in _stored_text(tmp_path, "wifi.png")
    question = tmp_path / "question.png"
    question.write_bytes(render("What is the wireless password?"))
    ask = ["embed", "query", "office", "signs", "--image", str(question), "--k", "1"]
    top = json.loads(runner.invoke(app, [*ask, *data]).stdout)["results"][0]["metadata"]
    assert top[LOCATION_KEY].endswith("/wifi.png")


def _stored_text(tmp_path: Path, name: str) -> str:
    ask = ["embed", "query", "office", "signs", "wifi password", "--k", "3"]
    reply = runner.invoke(app, [*ask, "--data", str(tmp_path / "data"), "-o", "json"])
    found = json.loads(reply.stdout)["results"]
    return next(
        r["metadata"][CONTENT_KEY] for r in found if r["metadata"][LOCATION_KEY].endswith(name)
    )


def test_the_embeddings_endpoint_reads_an_image(embed_server: Server) -> None:  # noqa: F811
    client = openai.OpenAI(base_url=f"{embed_server.endpoint}/v1", api_key=API_KEY)
    picture = base64.b64encode(render(SIGNS["parking.png"])).decode()
    inputs = [
        f"data:image/png;base64,{picture}",
        "Visitors may park in the north lot for up to two hours.",
        "Refunds are paid back within five business days.",
    ]
    reply = client.embeddings.create(model="all-MiniLM-L6-v2", input=inputs)
    shown, same, other = (np.asarray(d.embedding) for d in reply.data)
    assert shown @ same > 0.8 > shown @ other
