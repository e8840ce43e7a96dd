"""The project's TRL trainers: TRL's own, plus resume that really restores the weights
(``training.checkpoints``) and, for GRPO, the reference run's (verl's) loss terms where TRL 1.16
computes them differently (their switches are fields of ``training.trl_configs.VLAGRPOConfig``).
Imported lazily (it imports TRL) by ``training.sft`` and ``training.grpo``.

What ``VLAGRPOTrainer`` changes, each switchable from the config (``training.trl_configs.VLAGRPOConfig``):
- ``kl_clamp``: verl's low-variance KL is k3 = exp(d) − d − 1 (d = ref − policy log-prob) CLAMPED to
  ±``kl_clamp`` (10); TRL does not clamp. Done by clamping d to the interval where k3 ≤ kl_clamp,
  which gives the same value (kl_clamp) and the same zero gradient beyond it.
- ``advantage_epsilon``: verl's GRPO advantage is (r − group mean) / (group std + 1e-6); TRL
  hard-codes 1e-4, which shrinks the advantages of groups whose rewards are nearly equal.
- ``weight_decay_all_parameters``: verl's AdamW decays every parameter; transformers' Trainer
  exempts biases and norm weights.
- ``greedy_eval``: verl validates with greedy decoding (``val_kwargs.do_sample=False``); TRL's
  evaluation samples like training.
The KL importance factor (``use_bias_correction_kl``), the vLLM importance-sampling correction and
dual-clip (``delta``) are TRL settings and need no code here (see ``training.grpo``).
"""

from __future__ import annotations

import copy
import math

import torch
from trl import GRPOTrainer, SFTTrainer

from .checkpoints import ResumeWeightsMixin


class VLASFTTrainer(ResumeWeightsMixin, SFTTrainer):
    pass


def k3_interval(limit: float) -> tuple[float, float]:
    """(d_low, d_high) with exp(d) − d − 1 = ``limit`` at both ends (Newton; d_low < 0 < d_high)."""

    def solve(d: float) -> float:
        for _ in range(100):
            step = (math.exp(d) - d - 1 - limit) / (math.exp(d) - 1)
            d -= step
            if abs(step) < 1e-15:
                break
        return d

    return solve(-(limit + 1.0)), solve(math.log(limit + 2.0) + 0.5)


def reference_advantages(
    rewards_per_func: torch.Tensor, weights: torch.Tensor, num_generations: int, epsilon: float
) -> torch.Tensor:
    """verl's GRPO outcome advantage over ALL processes' rollouts: (r − mean) / (std + epsilon) per
    group of ``num_generations`` with torch's unbiased std (1 for a group of one, as verl); rows where
    every reward function returned None get 0, as in TRL."""
    rewards = (rewards_per_func * weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
    unscorable = torch.isnan(rewards_per_func).all(dim=1)
    grouped = rewards.masked_fill(unscorable, float("nan")).view(-1, num_generations)
    mean = torch.nanmean(grouped, dim=1, keepdim=True)
    if num_generations > 1:
        count = (~torch.isnan(grouped)).sum(dim=1, keepdim=True)
        variance = torch.nansum((grouped - mean) ** 2, dim=1, keepdim=True) / (count - 1).clamp(min=1)
        std = variance.sqrt()
    else:
        std = torch.ones_like(mean)
    advantages = ((grouped - mean) / (std + epsilon)).view(-1)
    return torch.nan_to_num(advantages, nan=0.0)


class VLAGRPOTrainer(ResumeWeightsMixin, GRPOTrainer):
    _kl_inputs: dict | None = None
    _rewards_per_func: torch.Tensor | None = None

    def get_decay_parameter_names(self, model) -> list[str]:
        if getattr(self.args, "weight_decay_all_parameters", False):
            return [name for name, _ in model.named_parameters()]
        return super().get_decay_parameter_names(model)

    # ------------------------------------------------------------------ KL clamp
    def _compute_loss(self, model, inputs):
        if self.beta != 0.0 and getattr(self.args, "kl_clamp", None) is not None:
            inputs = dict(inputs)  # the buffered batch may be reused (num_iterations > 1): never edit it
            self._kl_inputs = inputs
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._kl_inputs = None

    def _get_per_token_logps_and_entropies(self, *args, **kwargs):
        logps, entropies, *rest = super()._get_per_token_logps_and_entropies(*args, **kwargs)
        inputs, self._kl_inputs = self._kl_inputs, None  # only the policy's pass inside _compute_loss
        if inputs is not None and inputs.get("ref_per_token_logps") is not None:
            low, high = k3_interval(float(self.args.kl_clamp))
            ref = inputs["ref_per_token_logps"]
            # TRL computes k3 from (ref - logps); this makes that difference clamp(ref - logps, low, high)
            inputs["ref_per_token_logps"] = logps + torch.clamp(ref - logps, low, high)
        return (logps, entropies, *rest)

    # ------------------------------------------------------------------ advantages
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._rewards_per_func = rewards_per_func
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        epsilon = getattr(self.args, "advantage_epsilon", None)
        rewards, self._rewards_per_func = self._rewards_per_func, None
        if (
            epsilon is None
            or rewards is None
            or self.scale_rewards != "group"
            or self.multi_objective_aggregation != "sum_then_normalize"
        ):
            return output
        mode = "train" if self.model.training else "eval"
        num_generations = self.num_generations if mode == "train" else self.num_generations_eval
        local = output["advantages"]
        everyone = reference_advantages(rewards, self.reward_weights, num_generations, epsilon)
        start = self.accelerator.process_index * local.shape[0]
        output["advantages"] = everyone[start : start + local.shape[0]].to(local.dtype)
        return output

    # ------------------------------------------------------------------ greedy validation
    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if self.model.training or not getattr(self.args, "greedy_eval", False):
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        if self.use_vllm:
            saved, self.vllm_generation.temperature = self.vllm_generation.temperature, 0.0
            try:
                return super()._generate_single_turn(
                    prompt_ids, images, multimodal_fields, num_generations, has_tool_images
                )
            finally:
                self.vllm_generation.temperature = saved
        saved_config = self.generation_config
        greedy = copy.deepcopy(saved_config)
        greedy.do_sample, greedy.temperature, greedy.top_p, greedy.top_k, greedy.min_p = False, None, None, None, None
        self.generation_config = greedy
        try:
            return super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images
            )
        finally:
            self.generation_config = saved_config
