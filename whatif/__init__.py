"""The what-if simulator (issue 13): a day of traffic on the engine's own routing rules, in
simulated time. Imports ``routing`` (and the directory file's pure YAML reader) only."""
