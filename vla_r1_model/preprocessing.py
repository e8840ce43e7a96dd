"""Model inputs for one frame, built directly as tensors on the model's device.

The processor's path costs ~25-35 ms per 640x480 frame on a small CPU: a float64 rescale of every
value, float32 normalization, and tokenizing a prompt that holds hundreds of image placeholders.
Here the resize stays PIL's (the exact call the processor makes, so pixels match training), the
rescale + normalization is a 256-entry lookup per channel computed with the processor's own
arithmetic, and the placeholder is expanded on token ids. The result equals the processor's bit
for bit (tests/test_preprocessing.py).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

IMAGE_PAD_TOKEN = "<|image_pad|>"


class FramePreprocessor:
    """``(image, chat text) -> input_ids, attention_mask, pixel_values, image_grid_thw`` for Qwen2.5-VL."""

    def __init__(self, processor):
        self.image_processor = processor.image_processor
        self.tokenizer = processor.tokenizer
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(IMAGE_PAD_TOKEN)
        self._device_table = None  # the normalization table on the GPU, built on first use

    @staticmethod
    def supports(processor) -> bool:
        """Only the standard Qwen2-VL image settings are reproduced; anything else uses the processor."""
        ip = processor.image_processor
        standard = all(
            getattr(ip, flag, False) for flag in ("do_resize", "do_rescale", "do_normalize", "do_convert_rgb")
        )
        size = ip.size or {}
        return (
            standard
            and bool(size.get("shortest_edge"))
            and bool(size.get("longest_edge"))
            and ip.temporal_patch_size >= 1
        )

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        ip = self.image_processor
        new_h, new_w = smart_resize(
            height,
            width,
            factor=ip.patch_size * ip.merge_size,
            min_pixels=ip.size["shortest_edge"],
            max_pixels=ip.size["longest_edge"],
        )
        return new_w, new_h

    def normalization_table(self) -> np.ndarray:
        """(3, 256) float32: every uint8 value rescaled in float64, cast to float32, then normalized in
        float32 -- the processor's arithmetic, so a table lookup gives its values bit for bit."""
        ip = self.image_processor
        rescaled = (np.arange(256, dtype=np.float64) * ip.rescale_factor).astype(np.float32)
        mean = np.asarray(ip.image_mean, dtype=np.float32)[:, None]
        std = np.asarray(ip.image_std, dtype=np.float32)[:, None]
        return (rescaled[None, :] - mean) / std

    def resized_rgb(self, image: Image.Image) -> np.ndarray:
        """H, W, 3 uint8 at the model's input size (the processor resizes through PIL with this filter)."""
        rgb = image.convert("RGB")
        width, height = self.resized_size(*rgb.size)
        if (width, height) != rgb.size:
            rgb = rgb.resize((width, height), resample=self.image_processor.resample, reducing_gap=None)
        return np.asarray(rgb)

    def patchify(self, chw, xp):
        """(C, H, W) -> (grid_h * grid_w, C * T * P * P) in the processor's order; ``xp`` is numpy or torch."""
        ip = self.image_processor
        p, m, t = ip.patch_size, ip.merge_size, ip.temporal_patch_size
        grid_h, grid_w = chw.shape[1] // p, chw.shape[2] // p
        patches = chw.reshape(3, grid_h // m, m, p, grid_w // m, m, p)
        order = (1, 4, 2, 5, 0, 3, 6)
        patches = patches.transpose(*order) if xp is np else patches.permute(*order)
        repeated = patches[:, :, :, :, :, None]  # one frame repeated over the temporal patch
        shape = (*patches.shape[:5], t, p, p)
        repeated = np.broadcast_to(repeated, shape) if xp is np else repeated.expand(*shape)
        return repeated.reshape(grid_h * grid_w, 3 * t * p * p), (1, grid_h, grid_w)

    def pixel_patches(self, image: Image.Image, device="cpu", lookup_on_device: bool | None = None):
        """Flattened patches and the grid. On a GPU (``lookup_on_device`` None) only the uint8 frame is
        copied (1 byte per value, not 4) and the lookup and patch layout run there; on CPU numpy does them."""
        import torch

        rgb = self.resized_rgb(image)
        on_device = torch.device(device).type != "cpu" if lookup_on_device is None else lookup_on_device
        if not on_device:
            table = self.normalization_table()
            chw = np.stack([table[c][rgb[:, :, c]] for c in range(3)])
            patches, grid = self.patchify(chw, np)
            return torch.from_numpy(np.ascontiguousarray(patches)), grid
        if self._device_table is None or self._device_table.device != torch.device(device):
            self._device_table = torch.from_numpy(self.normalization_table()).to(device)
        pixels = torch.from_numpy(rgb.copy()).to(device, non_blocking=False).permute(2, 0, 1).long()
        chw_device = torch.gather(self._device_table, 1, pixels.reshape(3, -1)).reshape(pixels.shape)
        patches, grid = self.patchify(chw_device, torch)
        return patches.contiguous(), grid

    def __call__(self, image: Image.Image, text: str, device="cpu", lookup_on_device: bool | None = None) -> dict:
        import torch

        pixel_values, grid = self.pixel_patches(image, device, lookup_on_device)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if ids.count(self.image_token_id) != 1:
            raise ValueError(
                f"the chat text must hold exactly one {IMAGE_PAD_TOKEN}, found {ids.count(self.image_token_id)}"
            )
        n_image_tokens = grid[1] * grid[2] // self.image_processor.merge_size**2
        at = ids.index(self.image_token_id)
        ids = ids[:at] + [self.image_token_id] * n_image_tokens + ids[at + 1 :]
        input_ids = torch.tensor([ids], dtype=torch.long, device=device)
        return {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values": pixel_values,
            "image_grid_thw": torch.tensor([grid], dtype=torch.long, device=device),
        }
