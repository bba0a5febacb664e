"""Tokenizers: the :class:`~.vocab.Tokenizer` type (:mod:`.vocab`), readers of tokenizer files
(:mod:`.files`) and of bare vocabularies in GGUF and llama2.c files (:mod:`.rebuilt`), and the chat
template sandbox (:mod:`.chat`)."""
