// ClimateData module: see docs/design.md.
