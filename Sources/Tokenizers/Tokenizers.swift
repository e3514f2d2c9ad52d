// Module Tokenizers: see ../shared/design.md for what it owns.
