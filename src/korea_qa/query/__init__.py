"""The question: checked, its filters made, and analysed once into the record every later stage
reads."""
