"""Exercise 14's API: FastAPI serving the lexicon model in model.py.

POST /predict  {"text": "I love containers"}  ->  {"label": "positive", "score": 0.7311}
GET  /health   ->  {"status": "ok"}   (503 {"status": "unhealthy"} while /tmp/unhealthy exists:
                   `docker exec <container> touch /tmp/unhealthy` shows your HEALTHCHECK noticing)

Run it with uvicorn:  uvicorn main:app --host 0.0.0.0 --port 8000
"""

import os

from fastapi import FastAPI, Response
from pydantic import BaseModel

import model

app = FastAPI(title="Sentiment API", version="1.0")
UNHEALTHY_FLAG = os.environ.get("UNHEALTHY_FLAG", "/tmp/unhealthy")


class PredictRequest(BaseModel):
    text: str


class Prediction(BaseModel):
    label: str
    score: float


@app.get("/health")
def health(response: Response) -> dict:
    if os.path.exists(UNHEALTHY_FLAG):
        response.status_code = 503
        return {"status": "unhealthy"}
    return {"status": "ok"}


@app.post("/predict", response_model=Prediction)
def predict(request: PredictRequest) -> dict:
    return model.predict(request.text)
