"""The trained reader's model-side code, shared by training (`train/`) and serving.

A reader reads one candidate sentence at a time, with the question and a little of the text
before it, and says whether the sentence answers the question (a has-answer logit) and where
the answer lies inside it (start and end logits over the sentence's tokens). `pairs` turns
question-sentence pairs into model inputs with exact character offsets; `decode` turns the
model's outputs back into spans of the sentence.
"""
