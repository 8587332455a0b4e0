"""Turn failures into messages an analyst can act on: what happened and what to do next.

Every error the window shows goes through :func:`explain`, so that a bad file, a missing model, an
out-of-memory run or an unexpected failure all read the same way and none shows a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

BAD_FILE = "bad-file"
NO_FACE = "no-face"
MISSING_WEIGHTS = "missing-weights"
OUT_OF_MEMORY = "out-of-memory"
INVALID_INPUT = "invalid-input"
STORE = "case-store"
UNEXPECTED = "unexpected"
ENGINE_STOPPED = "engine-stopped"
NOT_ANALYSED = "not-analysed"  # the method of a crop whose face search the analyst cancelled
MODELS_HINT = (
    "Open File > Models… to import a model folder or checkpoint and verify it, or Settings (Ctrl+,) "
    "to choose another model folder."
)


@dataclass(frozen=True)
class UserMessage:
    """A message for the window's message bar."""

    kind: str
    title: str
    text: str
    todo: str
    level: str = "error"  # error | warning | info

    def as_text(self) -> str:
        return f"{self.title}: {self.text} {self.todo}".strip()


def for_the_window(text: str) -> str:
    """``text`` (a model folder's error, written for the command line) with the command-line advice
    ("pass --model ...") replaced by the window's way: the Models… dialog."""
    from tfgnet_desk.model_folders.manifest import CLI_MODEL_HINT

    return text.replace(CLI_MODEL_HINT, "import one with File > Models….")


def missing_model_message(folder: str, detail: str = "") -> UserMessage:
    return UserMessage(
        MISSING_WEIGHTS,
        "Model missing",
        for_the_window(f"No usable model in {folder}. {detail}".strip()),
        f"{MODELS_HINT} The embedded tiny model ships with the application (models/tiny); cases, "
        "evidence and descriptions still work meanwhile.",
    )


def engine_stopped_message(exitcode: int | None) -> UserMessage:
    """The engine child process died during a run (crash, or killed by the system for memory)."""
    memory = " The system probably ran out of memory." if exitcode == -9 else ""
    return UserMessage(
        ENGINE_STOPPED,
        "The generation engine stopped",
        f"The process that runs the model ended during the run (exit code {exitcode}).{memory}",
        "Your description, evidence and the candidates that had arrived are kept. Press Generate again "
        "(the engine restarts); if it repeats, ask for fewer candidates or switch the device to CPU.",
    )


def no_face_message(name: str) -> UserMessage:
    return UserMessage(
        NO_FACE,
        "No face found",
        f"No face was found in {name}; it is left out of runs (unticked) until a face box is drawn.",
        "Drag on the image to draw the face box by hand; the crop is then ticked and the run uses your box.",
        level="warning",
    )


def not_analysed_message(name: str) -> UserMessage:
    return UserMessage(
        NO_FACE,
        "Face search cancelled",
        f"{name} is kept in the case but was not analysed; it is left out of runs (unticked) until a "
        "face box is drawn.",
        "Drag on the image to draw the face box by hand; the crop is then ticked and the run uses your box.",
        level="warning",
    )


def explain(exc: BaseException, context: str = "") -> UserMessage:
    """Classify ``exc`` (by type and name, without importing heavy modules) into a UserMessage."""
    name = type(exc).__name__
    text = str(exc) or name
    where = f"{context}: " if context else ""
    if name == "ImageLoadError":
        return UserMessage(
            BAD_FILE,
            "Cannot use this file",
            f"{where}{text}",
            "Choose a JPEG, PNG, BMP, TIFF or WebP photo (under 64 megapixels).",
        )
    if name in ("WeightsError", "FileNotFoundError") and ("model" in text.lower() or name == "WeightsError"):
        return missing_model_message("the model folder", text)
    if isinstance(exc, MemoryError) or name == "OutOfMemoryError" or "out of memory" in text.lower():
        return UserMessage(
            OUT_OF_MEMORY,
            "Out of memory",
            f"{where}the run needed more memory than is free.",
            "Ask for fewer candidates or fewer evidence crops, switch the device to CPU in "
            "Settings, or close other programs; then press Generate again.",
        )
    if isinstance(exc, ValueError):
        return UserMessage(
            INVALID_INPUT,
            "Cannot run with these inputs",
            f"{where}{text}",
            "Correct the highlighted input and press Generate again.",
        )
    if name in ("OperationalError", "IntegrityError", "DatabaseError", "CaseStoreError"):
        return UserMessage(
            STORE,
            "Case store problem",
            f"{where}{text}",
            "Check that the data folder in Settings is writable and has free space.",
        )
    return UserMessage(
        UNEXPECTED,
        "Something went wrong",
        f"{where}{name}: {text}",
        "Your description and earlier candidates are kept. Try again; if it repeats, "
        "export the case report and send it with this message to support.",
    )
