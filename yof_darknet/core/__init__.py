"""The ground every layer stands on: errors, the classes, option specs, atomic file I/O, what the
package owns, progress lines.
"""
