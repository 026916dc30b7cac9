"""The trained reader's model-side code, shared by training (`train/`) and serving.

A reader reads one unit of a passage at a time (a sentence, or a window of whole sentences:
the card's shape says which), with the question and a little of the text before it, and says
whether the unit answers the question (a has-answer logit) and where the answer lies inside
it (start and end logits over the unit's tokens). `pairs` cuts texts into units and turns
question-unit pairs into model inputs with exact character offsets; `decode` turns the
model's outputs back into spans of the unit.
"""
