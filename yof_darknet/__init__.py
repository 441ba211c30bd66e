"""yof-darknet: the "You Only Feel Once" facial-expression detector, reproduced with Darknet."""

__version__ = "0.1.0"
