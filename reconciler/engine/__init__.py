"""The engine: turns manifests + live state into a Plan, renders it, and applies it.
It drives the workflow; kinds fill in what is specific to each kind of promotion."""
