"""An optional language model (any OpenAI-compatible server) that words answers better.

Everything works without it: retrieval answers questions and rules check messages. With it,
a worker asks the model, checks its answer against guardrails, and falls back to the offline
answer on any failure.
"""
