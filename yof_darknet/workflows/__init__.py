"""What runs several stages: reproduce, compare, compare-archs, hygiene, doctor, video evaluation,
benchmark.
"""
