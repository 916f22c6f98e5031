// Analysis module: see docs/design.md.
