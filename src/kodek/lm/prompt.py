"""The chat prompt around the audio, from the LLM's own chat template.

The user turn is the transcription instruction followed by a placeholder; the
template is rendered once, and split at the placeholder into the token ids before
the audio (``prefix``) and after it up to the start of the assistant's answer
(``suffix``). The answer is the transcript followed by the template's end-of-turn
token: the only positions that carry labels. The placeholder itself is never
tokenized: the projected audio takes its place in ``inputs_embeds``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kodek.errors import KodekError
from kodek.lm.config import AUDIO_PLACEHOLDER, PromptConfig

SENTINEL = "KODEKANSWER"  # stands for the transcript when the template is probed for its end-of-turn text


class PromptError(KodekError, ValueError):
    """A chat template kodek cannot split around the audio."""


@dataclass
class PromptLayout:
    prefix_ids: list[int]  # before the audio
    suffix_ids: list[int]  # after the audio, up to where the answer starts
    end_id: int  # the end-of-turn token that closes the answer (labelled)
    end_text: str  # its text, as the template writes it
    suffix_text: str
    pad_id: int

    def answer_ids(self, tokenizer, text: str) -> list[int]:
        """Token ids of ``text`` followed by the end-of-turn token, tokenized in context after the suffix
        (so that a tokenizer that treats the start of a string specially does not change the answer)."""
        context = tokenizer(self.suffix_text, add_special_tokens=False)["input_ids"]
        full = tokenizer(self.suffix_text + text + self.end_text, add_special_tokens=False)["input_ids"]
        if full[: len(context)] == context:
            answer = full[len(context) :]
        else:  # merges across the boundary: tokenize the answer on its own
            answer = tokenizer(text + self.end_text, add_special_tokens=False)["input_ids"]
        if self.end_id not in answer:
            raise PromptError(f"the end-of-turn token is missing from the tokenized answer {text[:40]!r}")
        return answer[: answer.index(self.end_id) + 1]


def build_layout(tokenizer, config: PromptConfig) -> PromptLayout:
    user = f"{config.instruction}\n{AUDIO_PLACEHOLDER}"
    messages = ([{"role": "system", "content": config.system}] if config.system else []) + [
        {"role": "user", "content": user}
    ]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if prompt.count(AUDIO_PLACEHOLDER) != 1:
        raise PromptError("the chat template does not keep the user's text (the audio placeholder is lost)")
    before, after = prompt.split(AUDIO_PLACEHOLDER)
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": SENTINEL}], tokenize=False, add_generation_prompt=False
    )
    if not full.startswith(prompt) or SENTINEL not in full[len(prompt) :]:
        raise PromptError("the chat template renders the conversation differently once the answer is added")
    end_text = full[len(prompt) :].split(SENTINEL, 1)[1]
    end_ids = tokenizer(end_text, add_special_tokens=False)["input_ids"]
    if not end_text or not end_ids:
        raise PromptError("the chat template writes nothing after the assistant's answer: no end-of-turn token")
    end_id = end_ids[0]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_id
    return PromptLayout(
        prefix_ids=tokenizer(before, add_special_tokens=False)["input_ids"],
        suffix_ids=tokenizer(after, add_special_tokens=False)["input_ids"],
        end_id=end_id,
        end_text=tokenizer.decode([end_id]),
        suffix_text=after,
        pad_id=pad_id,
    )
