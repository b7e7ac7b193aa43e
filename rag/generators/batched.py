"""Shared-prefill batched sampling: one prompt, many (settings × samples) rows, one decode batch.

A sweep asks the same question under many sampling settings, so every row shares the prompt. We run the
prompt through the model once, keep its KV cache at batch size 1, and decode all rows together: each step
attends to the shared prefix with one matrix product for all rows (the prefix is never copied per row) plus a
small per-row cache of the tokens generated so far. Every row keeps its own `SamplingParams` (as vectors),
its own random stream and its own stop condition; finished rows leave the batch.

The logits pipeline mirrors what `transformers.generate` builds in `_get_logits_processor` — repetition
penalty, then temperature, top-k, top-p, min-p — row by row (`tests/test_batched.py` proves equal
distributions). A row's draws come from its own `torch.Generator`, so its sample does not depend on which
other rows share the batch; `sample_sequential` is the one-`generate`-per-row reference.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.config import SamplingParams
from rag.generators.transformers_lm import (
    attention_implementation,
    cache_argument,
    generate_kwargs,
    output_cache,
    pad_token_id,
    stop_token_ids,
)

if TYPE_CHECKING:
    import torch

ATTENTION_NAME = "shared_prefix_decode"


@dataclass(frozen=True)
class BatchedSample:
    """One decoded row: generated ids (the stop token included, as `generate` returns it) and their text."""

    token_ids: list[int]
    text: str  # decoded without the final stop token, special tokens kept (thinking tags stay visible)
    finished_by_eos: bool  # False: the row used its whole max_new_tokens budget
    new_tokens: int


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: torch.Tensor) -> torch.Tensor:
    """Penalize every token already in a row's context (`seen[rows, vocab]`), as `RepetitionPenaltyLogitsProcessor`."""
    import torch

    if not bool((penalty != 1).any()):
        return logits
    penalty = penalty.to(logits.dtype)[:, None]
    penalized = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen & (penalty != 1), penalized, logits)


def warp_logits(
    logits: torch.Tensor,
    temperature: torch.Tensor,
    top_k: torch.Tensor,
    top_p: torch.Tensor,
    min_p: torch.Tensor,
) -> torch.Tensor:
    """Temperature, top-k, top-p and min-p with one value per row, in `generate`'s order; removed tokens are -inf.

    `logits[rows, vocab]` (float32); `temperature`, `top_p`, `min_p` float vectors, `top_k` an integer vector.
    Temperature 0 (greedy) and 1 leave a row unscaled, top_k 0 and top_p 1 switch those filters off, min_p 0
    keeps everything — exactly the cases where `generate` leaves the matching warper out.
    """
    import torch

    rows, vocab = logits.shape
    neg_inf = torch.tensor(float("-inf"), dtype=logits.dtype, device=logits.device)
    scores = logits / torch.where(temperature > 0, temperature, 1.0).to(logits.dtype)[:, None]

    k_on = top_k > 0
    if bool(k_on.any()):
        k = torch.where(k_on, top_k.clamp(max=vocab), 1)
        kth = torch.topk(scores, int(k[k_on].max())).values.gather(1, (k - 1)[:, None])
        scores = scores.masked_fill((scores < kth) & k_on[:, None], neg_inf)

    p_rows = torch.nonzero(top_p < 1).flatten()
    if p_rows.numel():
        chosen = scores[p_rows]
        sorted_logits, sorted_index = torch.sort(chosen, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # `generate` compares against the Python float 1 - top_p, rounded once to float32: do the same.
        threshold = torch.tensor([1.0 - float(top_p[i]) for i in p_rows], dtype=logits.dtype, device=logits.device)
        remove_sorted = cumulative <= threshold[:, None]
        remove_sorted[:, -1] = False
        scores[p_rows] = chosen.masked_fill(remove_sorted.scatter(1, sorted_index, remove_sorted), neg_inf)

    m_on = min_p > 0
    if bool(m_on.any()):
        probs = scores.softmax(dim=-1)
        top_probs = probs.amax(dim=-1, keepdim=True)
        remove = probs < min_p.to(logits.dtype)[:, None] * top_probs
        remove.scatter_(1, probs.argmax(dim=-1, keepdim=True), False)
        scores = scores.masked_fill(remove & m_on[:, None], neg_inf)
    return scores


class RowLogitsProcessor:
    """Per-row logits processing for a batch of `SamplingParams`: the settings live as vectors of shape [rows]."""

    def __init__(self, rows: Sequence[SamplingParams], device: Any = "cpu"):
        import torch

        self.temperature = torch.tensor([r.temperature for r in rows], dtype=torch.float32, device=device)
        self.top_k = torch.tensor([0 if r.greedy else r.top_k for r in rows], dtype=torch.long, device=device)
        self.top_p = torch.tensor([1.0 if r.greedy else r.top_p for r in rows], dtype=torch.float64, device=device)
        self.min_p = torch.tensor([0.0 if r.greedy else r.min_p for r in rows], dtype=torch.float32, device=device)
        self.penalty = torch.tensor([r.repetition_penalty for r in rows], dtype=torch.float32, device=device)
        self.greedy = self.temperature == 0

    def select(self, index: torch.Tensor) -> None:
        """Keep only the rows at `index` (finished rows leave the batch)."""
        for name in ("temperature", "top_k", "top_p", "min_p", "penalty", "greedy"):
            setattr(self, name, getattr(self, name)[index])

    def __call__(self, logits: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        """Scores to pick from: greedy rows take their argmax, sampling rows sample from their softmax."""
        penalized = apply_repetition_penalty(logits, seen, self.penalty)
        return warp_logits(penalized, self.temperature, self.top_k, self.top_p, self.min_p)


def pick_tokens(scores: torch.Tensor, greedy: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """Argmax for greedy rows; for the others an inverse-CDF draw from softmax(scores) with one uniform number
    from the row's own generator (so a row's draw does not depend on its batch)."""
    import torch

    tokens = scores.argmax(dim=-1)
    sampled = torch.nonzero(~greedy).flatten()
    if sampled.numel():
        cdf = scores[sampled].softmax(dim=-1).double().cumsum(dim=-1)
        uniform = torch.cat([torch.rand(1, generator=generators[i], dtype=torch.float64) for i in sampled.tolist()])
        # Scaling by the total keeps the draw inside the support even when float sums fall short of 1; a
        # zero-probability token never has cdf[i] > x >= cdf[i - 1], so it is never drawn.
        draw = torch.searchsorted(cdf, (uniform.to(cdf.device) * cdf[:, -1])[:, None], right=True)
        tokens[sampled] = draw.flatten()
    return tokens


def _shared_prefix_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    sliding_window: int | None = None,
    shared_prefix: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """One decode step attending to the shared prefix (batch 1, float32) and each row's own generated tokens.

    query [rows, heads, 1, dim]; key/value [rows, kv_heads, t, dim] hold only the generated tokens. All rows sit
    at the same position, so no mask is needed: the new token sees the whole prefix and its row's past.
    """
    import torch

    if shared_prefix is None or query.shape[2] != 1:
        raise RuntimeError("shared-prefix attention serves single-token decode steps from sample_batched only")
    prefix_keys, prefix_values = shared_prefix[module.layer_idx]  # [kv_heads, prefix, dim]
    if sliding_window is not None and prefix_keys.shape[1] + key.shape[2] > sliding_window:
        raise RuntimeError(f"sliding-window attention ({sliding_window} tokens) is not supported by sample_batched")
    rows, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    group = heads // kv_heads  # query heads per kv head, as in transformers' repeat_kv
    scale = dim**-0.5 if scaling is None else scaling
    q = query.float().reshape(rows, kv_heads, group, dim)
    # Prefix scores for every row at once: [kv_heads, rows*group, dim] @ [kv_heads, dim, prefix].
    q_by_head = q.permute(1, 0, 2, 3).reshape(kv_heads, rows * group, dim)
    prefix_scores = torch.bmm(q_by_head, prefix_keys.transpose(1, 2)).mul_(scale)
    prefix_scores = prefix_scores.reshape(kv_heads, rows, group, -1).permute(1, 0, 2, 3)
    own_scores = torch.matmul(q, key.float().transpose(-1, -2)).mul_(scale)  # [rows, kv_heads, group, t]
    probs = torch.cat([prefix_scores, own_scores], dim=-1).softmax(dim=-1)
    prefix_len = prefix_keys.shape[1]
    prefix_probs = probs[..., :prefix_len].permute(1, 0, 2, 3).reshape(kv_heads, rows * group, prefix_len)
    out = torch.bmm(prefix_probs, prefix_values).reshape(kv_heads, rows, group, dim).permute(1, 0, 2, 3)
    out = out + torch.matmul(probs[..., prefix_len:], value.float())
    return out.reshape(rows, heads, 1, dim).transpose(1, 2).to(query.dtype).contiguous(), None


def _register_attention() -> None:
    """Make `ATTENTION_NAME` a name transformers' attention switch accepts (once per process)."""
    from transformers import AttentionInterface

    if ATTENTION_NAME not in AttentionInterface._global_mapping:
        AttentionInterface.register(ATTENTION_NAME, _shared_prefix_attention)


def _as_prompt(prompt_ids: list[int] | torch.Tensor, device: Any) -> torch.Tensor:
    import torch

    ids = torch.as_tensor(prompt_ids, dtype=torch.long, device=device).flatten()
    if ids.numel() == 0:
        raise ValueError("the prompt is empty: pass at least one token id")
    return ids


def _check_rows(rows: Sequence[SamplingParams], seeds: Sequence[int]) -> None:
    if len(rows) != len(seeds):
        raise ValueError(f"got {len(rows)} rows but {len(seeds)} seeds: pass one seed per row")


def _finish(tokenizer: Any, ids: list[int], stop_ids: Collection[int]) -> BatchedSample:
    by_eos = bool(ids) and ids[-1] in stop_ids
    body = ids[:-1] if by_eos else ids
    text = tokenizer.decode(body, skip_special_tokens=False) if tokenizer is not None else ""
    return BatchedSample(token_ids=list(ids), text=text, finished_by_eos=by_eos, new_tokens=len(ids))


def sample_batched(
    model: Any,
    tokenizer: Any,
    prompt_ids: list[int] | torch.Tensor,
    rows: Sequence[SamplingParams],
    seeds: Sequence[int],
) -> list[BatchedSample]:
    """Decode every row for one prompt: one prefill, then all rows as one batch with per-row settings and seeds.

    Rows stop independently at a stop token (`stop_token_ids`) or their own `max_new_tokens`. `tokenizer` only
    decodes the text (None: empty text). Returns one `BatchedSample` per row, in order. While it runs, the
    model's attention implementation is switched to the shared-prefix decode step (and restored afterwards), so
    the same model object must not serve other calls concurrently.
    """
    import torch
    from transformers import DynamicCache

    _check_rows(rows, seeds)
    if not rows:
        return []
    device = model.device
    prompt = _as_prompt(prompt_ids, device)
    stop_ids = stop_token_ids(model, tokenizer)
    stop = torch.tensor(sorted(stop_ids) or [-1], device=device)

    with torch.inference_mode():
        prefill = model(input_ids=prompt[None], use_cache=True, logits_to_keep=1)
        prefix = [(layer.keys[0].float(), layer.values[0].float()) for layer in output_cache(prefill).layers]
        logits = prefill.logits[:, -1].float()
        del prefill
        vocab = logits.shape[-1]

        active = torch.arange(len(rows), device=device)  # batch position -> row number
        processor = RowLogitsProcessor(rows, device)
        generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        budget = torch.tensor([r.max_new_tokens for r in rows], device=device)
        seen = torch.zeros(len(rows), vocab, dtype=torch.bool, device=device)
        seen[:, prompt[prompt < vocab]] = True
        logits = logits.expand(len(rows), vocab)
        outputs: list[list[int]] = [[] for _ in rows]
        own_cache = DynamicCache(config=model.config)
        step = 0
        _register_attention()
        with attention_implementation(model, ATTENTION_NAME):
            while True:
                tokens = pick_tokens(processor(logits, seen), processor.greedy, [generators[i] for i in active])
                for row, token in zip(active.tolist(), tokens.tolist()):
                    outputs[row].append(token)
                step += 1
                seen[torch.arange(len(active), device=device), tokens] = True
                running = ~torch.isin(tokens, stop) & (budget[active] > step)
                if not bool(running.any()):
                    break
                if not bool(running.all()):
                    keep = torch.nonzero(running).flatten()
                    active, tokens, seen = active[keep], tokens[keep], seen[keep]
                    processor.select(keep)
                    own_cache.batch_select_indices(keep)
                position = torch.full((len(active), 1), prompt.numel() + step - 1, device=device)
                out = model(
                    input_ids=tokens[:, None],
                    position_ids=position,
                    **{cache_argument(model): own_cache},
                    use_cache=True,
                    shared_prefix=prefix,
                )
                logits = out.logits[:, -1].float()
    return [_finish(tokenizer, ids, stop_ids) for ids in outputs]


def sample_sequential(
    model: Any,
    tokenizer: Any,
    prompt_ids: list[int] | torch.Tensor,
    rows: Sequence[SamplingParams],
    seeds: Sequence[int],
) -> list[BatchedSample]:
    """The reference: one `model.generate` call per row (seeded with `torch.manual_seed(seed)`), same stop ids."""
    import torch

    _check_rows(rows, seeds)
    prompt = _as_prompt(prompt_ids, model.device)[None]
    stop_ids = stop_token_ids(model, tokenizer)
    pad = pad_token_id(model, tokenizer, stop_ids)
    results = []
    for params, seed in zip(rows, seeds):
        torch.manual_seed(int(seed))
        with torch.inference_mode():
            out = model.generate(
                input_ids=prompt, attention_mask=torch.ones_like(prompt), **generate_kwargs(params, stop_ids, pad)
            )
        results.append(_finish(tokenizer, out[0, prompt.shape[1] :].tolist(), stop_ids))
    return results
