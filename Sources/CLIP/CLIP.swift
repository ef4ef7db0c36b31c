// CLIP tokenizer and text model (issue 3).
