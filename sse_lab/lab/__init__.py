"""The notebook side of the lab: the server started from a cell (`launch`), what the
notebooks show (`widgets`, `plots`) and the checks behind their exercises (`exercises`)."""
