"""Protocols: SimPy processes that move messages and time, and call the pure maths."""
