"""The model's own tests (run them on your machine with `python -m pytest tests`). Keep them out of the image."""

import model


def test_positive():
    assert model.predict("I love this, it is great")["label"] == "positive"


def test_negative():
    assert model.predict("terrible and slow")["label"] == "negative"


def test_negation():
    assert model.predict("not good")["label"] == "negative"
