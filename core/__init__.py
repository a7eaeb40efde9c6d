"""The ground floor: the event contract, settings, the lake schema and database helpers.

Every other Flowlet package may import ``core``; ``core`` imports no other Flowlet package.
"""
