"""Text analysis every stage shares: the English tokenizer, the field's aliases, and what a
question asks for."""
