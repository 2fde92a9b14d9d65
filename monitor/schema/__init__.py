"""The expected state and the comparison, laid out by the data flow.

Pure: nothing here talks to a database. At the base the model (:mod:`.model`, frozen
dataclasses that a spec and a snapshot both are) and normalisation of types and expressions
(:mod:`.normalize`, :mod:`.quote`); then the spec format (:mod:`.spec`: read, write,
provenance); where expected meets live (:mod:`.compare`); and the outputs of a comparison, each
in a room of its own (:mod:`.repair`, :mod:`.advisors`).
"""
