"""Every message between the harness and an agent process, by name.

A message is a tuple whose first item is its :class:`Kind`; the items after it are listed
below. Kinds are plain strings on the wire (``Kind`` is a ``StrEnum``), so a message built with
a literal and one built with the enum are the same message.

Who sends what, in which phase (H = harness, A = agent process):

==========  ===========  ===============================================  ==============================
phase       direction    message                                          answer
==========  ===========  ===============================================  ==============================
start       H → A        ``(LOAD, submission_dir, entry)``                 ``(LOADED, {"meta_train": bool})``
trial       H → A        ``(TRIAL, spec, checkpoint or None)``             env requests, then ``(ADAPTED,)``
meta-train  H → A        ``(META_TRAIN, spec, checkpoint_out)``            env requests, then ``(META_TRAINED,)``
adapt/meta  A → H        ``(OPEN, num_envs)`` / ``(SAMPLE, num_envs)``      ``(OK, handle, obs_space, act_space)``
adapt/meta  A → H        ``(RESET, handle, seed or None)``                 ``(RESET_RESULT, obs, info)``
adapt/meta  A → H        ``(STEP, handle, action)``                        ``(STEP_RESULT, obs, reward, terminated, truncated, info)``
                                                                          or ``(VECTOR_STEP_RESULT, obs, rewards, terms, truncs, infos)``
adapt/meta  A → H        ``(CLOSE, handle)``                               ``(OK,)``
adapt/meta  A → H        ``(STEPS_LEFT,)``                                 ``(OK, steps_left)``
trial       A → H        ``(LLM_CHAT, messages, max_tokens, options)``      ``(OK, text, prompt_tokens, completion_tokens)``
trial       A → H        ``(LLM_COMPLETE, prompt, max_tokens, options)``    likewise
trial       A → H        ``(LLM_TOKENS_LEFT,)``                            ``(OK, tokens_left)``
adapt/meta  H → A        any request once the budget is spent              ``(EXHAUSTED, reason)``
                                                                          (a model call: once it would not fit)
adapt/meta  H → A        a request the env server cannot serve             ``(REFUSED, reason)``
evaluation  H → A        ``(ACT, new_episode, observation, info, reward)``  ``(ACTION, action)``
evaluation  H → A        ``(DONE,)``: the trial is over                    nothing
any         A → H        ``(FAILED, phase, traceback)``                    the harness ends the trial
any         A → H        ``(OUT_OF_MEMORY, phase, traceback)``             the harness ends the trial
==========  ===========  ===============================================  ==============================

Model calls (the text track's gateway, :mod:`arena.harness.gateway`) are requests like env
requests: in adaptation and, unlike env requests, also while the harness waits for an ``ACTION``.

The agent process sends nothing unasked: each of its messages answers a command or is an env
request inside the ``TRIAL`` or ``META_TRAIN`` command it is serving. The harness decodes
everything it receives with :func:`arena.boundary.wire.decode_untrusted`.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    # harness → agent process: commands
    LOAD = "load"
    TRIAL = "trial"
    META_TRAIN = "meta_train"
    ACT = "act"
    DONE = "done"
    # agent process → harness: reports
    LOADED = "loaded"
    ADAPTED = "adapted"
    META_TRAINED = "meta_trained"
    ACTION = "action"
    FAILED = "error"
    OUT_OF_MEMORY = "oom"
    # agent process → harness: env requests during adaptation and meta-training
    OPEN = "open"
    SAMPLE = "sample"
    RESET = "reset"
    STEP = "step"
    CLOSE = "close"
    STEPS_LEFT = "steps_left"
    # agent process → harness: the text track's model calls (adaptation and evaluation)
    LLM_CHAT = "llm_chat"
    LLM_COMPLETE = "llm_complete"
    LLM_TOKENS_LEFT = "llm_tokens_left"
    # harness → agent process: answers to env requests
    OK = "ok"
    RESET_RESULT = "reset_result"
    STEP_RESULT = "step_result"
    VECTOR_STEP_RESULT = "vector_step_result"
    EXHAUSTED = "exhausted"
    REFUSED = "refused"


# Answers to an env request that carry its result; the others (EXHAUSTED, REFUSED) stop it.
RESULTS = frozenset({Kind.OK, Kind.RESET_RESULT, Kind.STEP_RESULT, Kind.VECTOR_STEP_RESULT})
# What an agent process reports when its agent raised: the trial ends with that status.
FAILURES = frozenset({Kind.FAILED, Kind.OUT_OF_MEMORY})
# Requests for the model gateway, not the env server.
LLM_REQUESTS = frozenset({Kind.LLM_CHAT, Kind.LLM_COMPLETE, Kind.LLM_TOKENS_LEFT})
