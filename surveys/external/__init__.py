"""Surveys other tools send (issue 16): touches recorded after the fact, slots reserved before an
external send and confirmed after it, and answers ingested from those tools. See
surveys/models/external.py for how they are stored so every rule, timeline and result counts them."""
