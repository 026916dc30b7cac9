"""Reading: the evidence of each passage read, the reader seam that picks the answer,
answerability, and the explanation of a result."""
