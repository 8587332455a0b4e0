"""Stage ``joint`` (paper 3.6): train the whole TFGNet with the text encoder frozen.

Per sample: the A.1-degraded face goes through the restorer; the restored face, its background filled
with noise (paper 3.3), is the ID image; the CLIP image encoder and the fusion MLP turn it into the
stacked ID embedding that replaces the class word of the caption (3.4). Training images have templated
captions here, so the prompt is the caption with probability ``p_caption``; otherwise it is the paper's
caption-less form: "a photo of a <class word>" plus ``pseudo_text_tokens`` tokens produced from the
target's CLIP image embedding by the pseudo-text MLP, written over the padding after the end token.
The UNet learns to predict the noise of the VAE latent of the clean target; with probability
``p_uncond`` the conditioning is zeroed (the null condition that classifier-free guidance uses).

Loss (eq. 10): L_total = l1 L_codebook + l2 L_transformer + l3 L_masked. L_masked is eq. 9 on the
identity-region mask (the landmark hull when cached, else the aligned-crop face ellipse); ``bg_weight``
adds a plain MSE over the whole latent so the background is learned at all (0 = the paper exactly).
With l1 = l2 = 0 (the CPU default) the restorer stays frozen. Learning rates are stage-wise per group:
``lr`` x ``lr_mult`` for unet, fusion, pseudo_text, image_encoder and restorer.

Teacher losses on the predicted clean image (off by default; ``x0_identity_weight``,
``x0_perceptual_weight``, ``x0_attribute_weight``, ``teacher_size``): the x0 prediction is decoded by
the frozen VAE and compared with the target by faceres (``model.face_teacher``), and the attribute probes
are asked for what the caption states. ``t_max_fraction`` < 1 trains only the lower noise levels, the
ones the app samples at strength < 1.

Captions for text adherence (``salient_attributes``, ``attribute_fraction``; session 8): the templated
caption states 1-4 of a face's attributes at random, so a face with glasses is often described without
them and "no mention" does not mean "absent"; with ``salient_attributes`` (for instance eyeglasses, beard,
smiling) every caption of a face that shows one states it (the flip test's own phrase), and
``attribute_fraction`` of every batch is drawn from faces that show one (eyeglasses are on ~6 % of CelebA
faces and none of UTKFace's captions).

``base_model`` (optional) fine-tunes a model folder (for instance ``models/tiny``) instead of
assembling a fresh one: its config and weights, then any component ``init`` names (a re-trained image
encoder), so a stage can be re-run on its own without re-training the others.

Ablations: ``--no-stacked-id`` (text only, no ID embedding), ``--no-masked-loss`` (plain MSE);
``--no-codebook`` / ``--no-transformer`` use the matching restorer (trained with the same flags).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from tfgnet_desk.model import embed as E
from tfgnet_desk.model.losses import masked_diffusion_loss, total_loss
from tfgnet_desk.train.checkpoint import load_component
from tfgnet_desk.train.data import Batch
from tfgnet_desk.train.loop import StepRandom
from tfgnet_desk.train.stages.base import TrainStage, image_grid
from tfgnet_desk.train.stages.clip import noise_background


def joint_model_config(stage: TrainStage):
    """TFGNetConfig for the stage: the profile preset, with the restorer, VAE and CLIP configs that the
    earlier stages exported (their ``*.json`` beside the weights) and any ``model`` overrides."""
    from tfgnet_desk.model.config import TFGNetConfig, fusion_for
    from tfgnet_desk.model.generator import GeneratorConfig
    from tfgnet_desk.model.restorer import RestorerConfig

    base = stage.p.get("base_model")
    if base:  # fine-tuning a shipped model: its architecture, exactly
        cfg = TFGNetConfig.from_json(Path(base) / "config.json")
        cfg.image_size = int(stage.cfg.image_size)
        cfg.__post_init__()
        return cfg
    cfg = TFGNetConfig.preset(stage.cfg.profile)
    if "test_config" in stage.p:  # tests: the tiny test model of model/testing.py
        from tfgnet_desk.model.testing import tiny_test_config

        cfg = tiny_test_config()
    over = stage.p.get("model", {})
    restorer = stage.init_path("restorer")
    if restorer is not None and (restorer.parent / "restorer.json").exists():
        cfg.restorer = RestorerConfig.from_dict(json.loads((restorer.parent / "restorer.json").read_text()))
    vae = stage.init_path("vae")
    gen = GeneratorConfig.from_dict(cfg.generator.to_dict())
    if vae is not None and (vae.parent / "vae.json").exists():
        gen.vae = json.loads((vae.parent / "vae.json").read_text())
    gen.unet.update(over.get("unet", {}))
    gen.vae.update(over.get("vae", {}))
    cfg.generator = gen
    clip = stage.init_path("image_encoder")
    if clip is not None and (clip.parent / "encoders.json").exists():
        cfg.clip = E.EncoderSpec.from_dict(json.loads((clip.parent / "encoders.json").read_text()))
        cfg.fusion = fusion_for(cfg.clip, cfg.fusion.pseudo_text_tokens)
    if "restorer" in over:
        cfg.restorer = RestorerConfig.from_dict(over["restorer"])
    if "encoders" in over:
        cfg.clip = E.EncoderSpec.from_dict(over["encoders"])
        cfg.fusion = fusion_for(cfg.clip, cfg.fusion.pseudo_text_tokens)
    cfg.image_size = int(stage.cfg.image_size)
    cfg.__post_init__()
    return cfg


class JointStage(TrainStage):
    name = "joint"

    def __init__(self, cfg, source, out_root: Path) -> None:
        super().__init__(cfg, source, out_root)
        from diffusers import DDPMScheduler

        from tfgnet_desk.model.tfgnet import TFGNet

        self.model_config = joint_model_config(self)
        base = self.p.get("base_model")
        # ``base_model``: start from a model folder (verified), then replace the components ``init`` names
        self.net = TFGNet.from_pretrained(base).train() if base else TFGNet(self.model_config)
        for comp, module in self.net.components().items():  # text_encoder_2 etc. in the full profile
            path = self.init_path(comp)
            if path is not None:
                load_component(module, path)
        self.noise_scheduler = DDPMScheduler.from_config(dict(self.model_config.generator.scheduler))
        lam = self.p.get("lambdas", {"codebook": 0.0, "transformer": 0.0, "masked": 1.0})
        self.lambdas = {k: float(v) for k, v in lam.items()}
        self.train_restorer = self.lambdas.get("codebook", 0) > 0 or self.lambdas.get("transformer", 0) > 0
        self.lr_mult = {"unet": 1.0, "fusion": 1.0, "pseudo_text": 1.0, "image_encoder": 0.0, "restorer": 0.0}
        self.lr_mult.update({k: float(v) for k, v in self.p.get("lr_mult", {}).items()})
        if not self.train_restorer:
            self.lr_mult["restorer"] = 0.0
        # Frozen: the text encoder (paper 3.6) and the VAE; anything with lr multiplier 0.
        for name, module in self.net.components().items():
            trainable = self.lr_mult.get(name, 0.0) > 0
            module.requires_grad_(trainable)
        # Text that matters: the flip attributes always stated when shown, and faces showing them drawn
        # more often (``train.data.FaceSource``); off unless the config names them.
        if hasattr(source, "salient_attributes"):
            source.salient_attributes = tuple(self.p.get("salient_attributes", ()))
            source.attribute_fraction = float(self.p.get("attribute_fraction", 0.0))
        self.p_caption = float(self.p.get("p_caption", 0.7))
        self.p_uncond = float(self.p.get("p_uncond", 0.1))
        self.bg_weight = float(self.p.get("bg_weight", 0.1))
        self.no_stacked_id = bool(self.p.get("no_stacked_id", False))
        self.no_masked_loss = bool(self.p.get("no_masked_loss", False))
        # The noise levels trained: t < t_max_fraction x T (the app samples strength <= 0.6 by default).
        self.t_max_fraction = float(self.p.get("t_max_fraction", 1.0))
        self.x0_weights = {
            "identity": float(self.p.get("x0_identity_weight", 0.0)),
            "perceptual": float(self.p.get("x0_perceptual_weight", 0.0)),
            "attributes": float(self.p.get("x0_attribute_weight", 0.0)),
        }
        self.teacher = None
        if any(v > 0 for v in self.x0_weights.values()):
            from tfgnet_desk.faces.attributes import AttributeProbes
            from tfgnet_desk.model.face_teacher import FaceResTeacher

            probes = AttributeProbes.load() if self.x0_weights["attributes"] > 0 else None
            self.teacher = FaceResTeacher(size=int(self.p.get("teacher_size", 224)), probes=probes)
        self.vq = None
        if self.lambdas.get("transformer", 0) > 0:
            from tfgnet_desk.model.vq import VQAutoEncoder

            self.vq = VQAutoEncoder.from_config(self.model_config.restorer)
            load_component(self.vq, self.init_path("vq"))
            self.vq.requires_grad_(False)

    def param_groups(self):
        groups = []
        for name, module in self.net.components().items():
            mult = self.lr_mult.get(name, 0.0)
            params = [p for p in module.parameters() if p.requires_grad]
            if mult > 0 and params:
                groups.append({"params": params, "lr": self.cfg.lr * mult, "name": name})
        return groups

    def train(self, mode: bool = True):
        super().train(mode)
        for name, module in self.net.components().items():
            if self.lr_mult.get(name, 0.0) == 0:
                module.eval()
        return self

    # ----------------------------------------------------------------------------- conditioning
    def id_images(self, batch: Batch, rand: StepRandom) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Restored LQ faces with noise outside the mask (the ID images), and Z_L/logits if trained."""
        if self.train_restorer:
            restored, logits, z_l = self.net.restorer(batch.lq)
        else:
            with torch.no_grad():
                restored, logits, z_l = self.net.restorer(batch.lq)
        restored = restored.clamp(-1, 1)
        noise = rand.rand(*restored.shape[1:], device=restored.device) * 2 - 1
        use = torch.ones(len(batch), dtype=torch.bool, device=restored.device)
        ids = restored
        if self.model_config.id_image_noise:
            ids = noise_background(restored, batch.mask, noise, use)
        return ids, (restored, logits, z_l)

    def condition(
        self, batch: Batch, rand: StepRandom, id_images: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """t* per sample (B, L, D), for SDXL-style UNets the pooled prompt embedding (B, P), and which
        samples were conditioned on their caption (B,) bool (not the pseudo-text form, not dropped)."""
        dev = batch.hq.device
        use_caption = (rand.rand() < self.p_caption).tolist()
        female = ("woman", "girl", "female", "lady")
        words = ["woman" if any(f in c.split() for f in female) else "man" for c in batch.captions]
        prompts = [
            c if u else f"a photo of a {w}"
            for c, u, w in zip(batch.captions, use_caption, words, strict=True)
        ]
        with torch.no_grad():
            text = self.net.encode_prompt(prompts)
        embeds = text.hidden.to(dev)
        length = embeds.shape[1]
        id_emb = self.net.id_embeddings(id_images)  # (B, M)
        if not self.no_stacked_id:
            idx = self.net.class_token_index(text.input_ids, prompts).to(dev)
            embeds, _ = self.net.fusion(embeds, idx, id_emb[:, None], None)
        # Pseudo-text tokens (caption-less samples): over the padding after the end token.
        pseudo = self.net.pseudo_text(id_emb)
        k = pseudo.shape[1]
        eos = (text.input_ids == self.net.tokenizer.eos_token_id).int().argmax(1).to(dev)
        pos = (eos[:, None] + 1 + torch.arange(k, device=dev)[None]).clamp(max=embeds.shape[1] - 1)
        use_pseudo = torch.tensor([not u for u in use_caption], device=dev)
        scatter = embeds.clone()
        scatter[torch.arange(len(batch), device=dev)[:, None], pos] = pseudo.to(embeds.dtype)
        embeds = torch.where(use_pseudo[:, None, None], scatter, embeds)
        embeds = embeds[:, :length]
        drop = rand.rand(device=dev) < self.p_uncond
        pooled = None
        if text.pooled is not None:
            pooled = torch.where(drop[:, None], torch.zeros_like(text.pooled), text.pooled.to(dev))
        captioned = torch.tensor(use_caption, dtype=torch.bool, device=dev) & ~drop
        return torch.where(drop[:, None, None], torch.zeros_like(embeds), embeds), pooled, captioned

    # ------------------------------------------------------------------------------------ loss
    def forward(self, batch: Batch, rand: StepRandom):
        dev = batch.hq.device
        id_images, (restored, logits, z_l) = self.id_images(batch, rand)
        embeds, pooled, captioned = self.condition(batch, rand, id_images)
        with torch.no_grad():
            post = self.net.vae.encode(batch.hq).latent_dist
            z0 = post.mean + post.std * rand.randn(*post.mean.shape[1:], device=dev)
            z0 = z0 * self.net.vae.config.scaling_factor
        eps = rand.randn(*z0.shape[1:], device=dev)
        t_total = int(self.noise_scheduler.config.num_train_timesteps)
        t = rand.randint(max(1, round(t_total * self.t_max_fraction)), device=dev)
        zt = self.noise_scheduler.add_noise(z0, eps, t)
        extra = {}
        if self.model_config.generator.uses_added_cond:  # full profile: SDXL's added conditioning
            from tfgnet_desk.model.generator import sdxl_time_ids

            extra["added_cond_kwargs"] = {
                "text_embeds": pooled.to(embeds.dtype),
                "time_ids": sdxl_time_ids(self.model_config.image_size, len(batch), embeds.dtype, dev),
            }
        eps_pred = self.net.unet(zt, t, encoder_hidden_states=embeds, **extra).sample
        l_masked = masked_diffusion_loss(eps_pred, eps, None if self.no_masked_loss else batch.mask)
        if self.bg_weight > 0:
            l_masked = l_masked + self.bg_weight * F.mse_loss(eps_pred.float(), eps.float())
        l_cb = l_tr = None
        logs = {}
        if self.lambdas.get("codebook", 0) > 0:
            l_cb = F.l1_loss(restored, batch.hq)
            logs["codebook"] = l_cb.detach()
        if self.lambdas.get("transformer", 0) > 0 and logits is not None:
            from tfgnet_desk.model.restorer import code_targets, transformer_loss

            idx, z_c = code_targets(self.vq, batch.hq)
            l_tr = transformer_loss(logits, idx, z_l, z_c)
            logs["transformer"] = l_tr.detach()
        loss = total_loss(l_cb, l_tr, l_masked, self.lambdas)
        logs["masked"] = l_masked.detach()
        if self.teacher is not None:
            taught = self.x0_losses(batch, zt, t, eps_pred, captioned)
            for name, value in taught.items():
                loss = loss + self.x0_weights[name] * value
                logs[f"x0_{name}_faceres"] = value.detach()
        return loss, logs

    def x0_losses(
        self, batch: Batch, zt: torch.Tensor, t: torch.Tensor, eps_pred: torch.Tensor, captioned: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Teacher losses on the predicted clean image (the VAE decoding of the x0 prediction):
        faceres identity and perceptual distance to the target, and the attribute probes' BCE on what
        each sample's caption states (captioned samples only)."""
        from tfgnet_desk.data.caption_attributes import stated_attributes

        alpha = self.noise_scheduler.alphas_cumprod.to(zt.device)[t].view(-1, 1, 1, 1).to(zt.dtype)
        z0_pred = (zt - (1 - alpha).sqrt() * eps_pred) / alpha.sqrt()
        img = self.net.vae.decode(z0_pred / self.net.vae.config.scaling_factor).sample.clamp(-1, 1)
        out: dict[str, torch.Tensor] = {}
        w = self.x0_weights
        if w["identity"] > 0 or w["perceptual"] > 0:
            taught = self.teacher(img, batch.hq, perceptual=w["perceptual"] > 0)
            out.update({k: v for k, v in taught.items() if w[k] > 0})
        if w["attributes"] > 0:
            attrs = self.teacher.probes.attributes
            target = torch.zeros(len(batch), len(attrs), device=img.device)
            known = torch.zeros_like(target)
            for i, caption in enumerate(batch.captions):
                if not bool(captioned[i]):
                    continue
                for name, value in stated_attributes(caption).items():
                    if name in attrs:
                        target[i, attrs.index(name)] = float(value)
                        known[i, attrs.index(name)] = 1.0
            logits = self.teacher.attribute_logits(img)
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            out["attributes"] = (bce * known).sum() / known.sum().clamp_min(1.0)
        return out

    # --------------------------------------------------------------------------------- samples
    @torch.no_grad()
    def generate(
        self, batch: Batch, steps: int = 20, strength: float = 1.0, guidance: float = 3.0, seed: int = 0
    ) -> torch.Tensor:
        """One candidate per face of ``batch`` (its caption, its restored LQ as the ID image)."""
        out = []
        gen = self.net.generator
        for i in range(len(batch)):
            one = batch.slice(i, i + 1)
            restored = self.net.restorer(one.lq)[0].clamp(-1, 1)
            cond, _ = self.net.condition(one.captions[0], None if self.no_stacked_id else restored)
            out.append(
                gen.sample(
                    cond,
                    [seed + i],
                    steps=steps,
                    guidance=guidance,
                    strength=strength,
                    init_image=restored if strength < 1 else None,
                )
            )
        return torch.cat(out)

    def sample_grid(self, batch: Batch):
        b = batch.slice(0, min(6, len(batch)))
        restored = self.net.restorer(b.lq)[0].clamp(-1, 1)
        steps = int(self.p.get("sample_steps", 15))
        full = self.generate(b, steps=steps, strength=1.0)
        half = self.generate(b, steps=steps, strength=0.6)
        return image_grid([b.lq, restored, full, half, b.hq])

    def export(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.net.save_pretrained(
            folder / "model",
            licence="see models/tiny/MODEL_CARD.md",
            source="tfgnet-desk python -m tfgnet_desk.train joint",
        )
