"""Exercise 10's API: FastAPI serving the lexicon model in model.py.

POST /predict  {"text": "I love containers"}  ->  {"label": "positive", "score": 0.7311}
GET  /health   ->  {"status": "ok"}

Run it with uvicorn:  uvicorn main:app --host 0.0.0.0 --port 8000
"""

from fastapi import FastAPI
from pydantic import BaseModel

import model

app = FastAPI(title="Sentiment API", version="1.0")


class PredictRequest(BaseModel):
    text: str


class Prediction(BaseModel):
    label: str
    score: float


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/predict", response_model=Prediction)
def predict(request: PredictRequest) -> dict:
    return model.predict(request.text)
