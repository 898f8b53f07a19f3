"""fwctl's data: frozen pydantic models for manifests (``resources``), plans, state, the platform's
answers (``remote``), and error data (``errors``, ``problems``).

Imports nothing else of fwctl's; everything above builds on it. Import from the submodules: this
package module stays empty so that loading one small module (``errors``) does not build them all.
"""
