"""Answers from the lessons: questions learners type, and messages they want checked."""
