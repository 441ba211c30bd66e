"""The embedded sample: drawn faces, the Aff-Wild2-like videos, format-exact look-alikes of
AffectNet and RAF-DB.
"""
