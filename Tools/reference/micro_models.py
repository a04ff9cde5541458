"""Micro SAM 2.1 configs for fixtures: the official architecture at small sizes, built with the
official sam2 classes (through hydra's instantiate, exactly as build_sam2 does), with seeded random
weights adjusted as DESIGN.md §8 says. Also writes the matching Swift-side JSON config."""
import os
import json

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

# name -> sizes. Stage 3 windows pad (8 tokens with window 6; 12 with 10) as tiny pads 64 with 14;
# windows at q-pool blocks must be even, as in every official config.
MICRO = {
    "micro": dict(image_size=128, embed_dim=16, num_heads=1, stages=[1, 2, 2, 1], global_att_blocks=[4],
                  window_spec=[8, 4, 6, 2], bkg=[4, 4], d_model=32, mem_dim=16, layers=2, feedforward=64),
    "micro2": dict(image_size=192, embed_dim=16, num_heads=2, stages=[1, 1, 3, 1], global_att_blocks=[4],
                   window_spec=[8, 4, 10, 3], bkg=[6, 6], d_model=48, mem_dim=8, layers=2, feedforward=48),
    # The trained default model (Tools/train): 256 px, grids 64/32/16/8, windows even at q-pool blocks.
    # Tracked frames give one mask (multimask_tracking False) and that mask is kept whatever its
    # stability (dynamic_multimask False; the official training config does not use the stability
    # fallback either): a model trained briefly from scratch ranks its three candidate masks badly,
    # so selecting among them (by predicted IoU, or on low stability) lost the good mask.
    "synth": dict(image_size=256, embed_dim=32, num_heads=1, stages=[1, 2, 3, 1], global_att_blocks=[5],
                  window_spec=[8, 4, 8, 4], bkg=[4, 4], d_model=64, mem_dim=32, layers=2, feedforward=256,
                  multimask_tracking=False, dynamic_multimask=False),
    # A wider candidate for the default model (Tools/train --model synth_wide): "synth" tracks at
    # J 0.90 one frame after the prompt against a 0.97 ceiling of its mask grid, so width, not
    # resolution, is what it lacks. Hiera 48-dim (48/96/192/384), 128-dim neck and decoder, 64-dim
    # memories, 4 memory-attention layers as in every official config.
    "synth_wide": dict(image_size=256, embed_dim=48, num_heads=1, stages=[1, 2, 3, 1], global_att_blocks=[5],
                       window_spec=[8, 4, 8, 4], bkg=[4, 4], d_model=128, mem_dim=64, layers=4, feedforward=512,
                       multimask_tracking=False, dynamic_multimask=False),
}


def model_config(name, version21=True, video=True):
    """The official YAML structure (sam2.1_hiera_t.yaml) with micro sizes, as an OmegaConf dict."""
    m = MICRO[name]
    grid = m["image_size"] // 16
    dims = [m["embed_dim"] * 2 ** i for i in range(4)]
    cfg = {
        "_target_": "sam2.sam2_video_predictor.SAM2VideoPredictor" if video else "sam2.modeling.sam2_base.SAM2Base",
        "image_encoder": {
            "_target_": "sam2.modeling.backbones.image_encoder.ImageEncoder", "scalp": 1,
            "trunk": {"_target_": "sam2.modeling.backbones.hieradet.Hiera", "embed_dim": m["embed_dim"],
                      "num_heads": m["num_heads"], "stages": m["stages"],
                      "global_att_blocks": m["global_att_blocks"], "window_spec": m["window_spec"],
                      "window_pos_embed_bkg_spatial_size": m["bkg"]},
            "neck": {"_target_": "sam2.modeling.backbones.image_encoder.FpnNeck",
                     "position_encoding": {"_target_": "sam2.modeling.position_encoding.PositionEmbeddingSine",
                                           "num_pos_feats": m["d_model"], "normalize": True, "scale": None,
                                           "temperature": 10000},
                     "d_model": m["d_model"], "backbone_channel_list": dims[::-1],
                     "fpn_top_down_levels": [2, 3], "fpn_interp_model": "nearest"},
        },
        "memory_attention": {
            "_target_": "sam2.modeling.memory_attention.MemoryAttention", "d_model": m["d_model"],
            "pos_enc_at_input": True, "num_layers": m["layers"],
            "layer": {"_target_": "sam2.modeling.memory_attention.MemoryAttentionLayer", "activation": "relu",
                      "dim_feedforward": m["feedforward"], "dropout": 0.1, "pos_enc_at_attn": False,
                      "d_model": m["d_model"], "pos_enc_at_cross_attn_keys": True,
                      "pos_enc_at_cross_attn_queries": False,
                      "self_attention": {"_target_": "sam2.modeling.sam.transformer.RoPEAttention",
                                         "rope_theta": 10000.0, "feat_sizes": [grid, grid],
                                         "embedding_dim": m["d_model"], "num_heads": 1, "downsample_rate": 1,
                                         "dropout": 0.1},
                      "cross_attention": {"_target_": "sam2.modeling.sam.transformer.RoPEAttention",
                                          "rope_theta": 10000.0, "feat_sizes": [grid, grid], "rope_k_repeat": True,
                                          "embedding_dim": m["d_model"], "num_heads": 1, "downsample_rate": 1,
                                          "dropout": 0.1, "kv_in_dim": m["mem_dim"]}},
        },
        "memory_encoder": {
            "_target_": "sam2.modeling.memory_encoder.MemoryEncoder", "out_dim": m["mem_dim"],
            "in_dim": m["d_model"],
            "position_encoding": {"_target_": "sam2.modeling.position_encoding.PositionEmbeddingSine",
                                  "num_pos_feats": m["mem_dim"], "normalize": True, "scale": None,
                                  "temperature": 10000},
            "mask_downsampler": {"_target_": "sam2.modeling.memory_encoder.MaskDownSampler",
                                 "kernel_size": 3, "stride": 2, "padding": 1, "embed_dim": m["d_model"]},
            "fuser": {"_target_": "sam2.modeling.memory_encoder.Fuser", "num_layers": 2,
                      "layer": {"_target_": "sam2.modeling.memory_encoder.CXBlock", "dim": m["d_model"],
                                "kernel_size": 7, "padding": 3, "layer_scale_init_value": 1e-6,
                                "use_dwconv": True}},
        },
        "num_maskmem": 7, "image_size": m["image_size"], "sigmoid_scale_for_mem_enc": 20.0,
        "sigmoid_bias_for_mem_enc": -10.0, "use_mask_input_as_output_without_sam": True,
        "directly_add_no_mem_embed": True, "no_obj_embed_spatial": version21,
        "use_high_res_features_in_sam": True, "multimask_output_in_sam": True,
        "iou_prediction_use_sigmoid": True, "use_obj_ptrs_in_encoder": True,
        "add_tpos_enc_to_obj_ptrs": version21, "proj_tpos_enc_in_obj_ptrs": version21,
        "use_signed_tpos_enc_to_obj_ptrs": version21, "only_obj_ptrs_in_the_past_for_eval": True,
        "pred_obj_scores": True, "pred_obj_scores_mlp": True, "fixed_no_obj_ptr": True,
        "multimask_output_for_tracking": m.get("multimask_tracking", True), "use_multimask_token_for_obj_ptr": True,
        "multimask_min_pt_num": 0, "multimask_max_pt_num": 1, "use_mlp_for_obj_ptr_proj": True,
        "compile_image_encoder": False,
        # build_sam2_video_predictor(apply_postprocessing=True) adds these:
        "sam_mask_decoder_extra_args": {"dynamic_multimask_via_stability": m.get("dynamic_multimask", True),
                                        "dynamic_multimask_stability_delta": 0.05,
                                        "dynamic_multimask_stability_thresh": 0.98},
        "binarize_mask_from_pts_for_mem_enc": True,
    }
    if video:
        cfg["fill_hole_area"] = 0  # the hole-filling kernel is CUDA-only; parity runs without it
    return OmegaConf.create(cfg)


def swift_config(name, version21=True):
    """The same model as the Swift SAM2Config JSON (snake_case keys)."""
    m = MICRO[name]
    grid = m["image_size"] // 16
    dims = [m["embed_dim"] * 2 ** i for i in range(4)]
    return {
        "name": f"{name}_sam2.1" if version21 else f"{name}_sam2.0",
        "image_size": m["image_size"], "backbone_stride": 16,
        "hiera": {"embed_dim": m["embed_dim"], "num_heads": m["num_heads"], "stages": m["stages"],
                  "global_att_blocks": m["global_att_blocks"], "window_spec": m["window_spec"],
                  "window_pos_embed_bkg_spatial_size": m["bkg"], "q_pool": 3, "q_stride": 2,
                  "dim_mul": 2.0, "head_mul": 2.0},
        "neck": {"d_model": m["d_model"], "backbone_channel_list": dims[::-1], "fpn_top_down_levels": [2, 3],
                 "fpn_interp_model": "nearest", "scalp": 1},
        "memory_attention": {"d_model": m["d_model"], "num_layers": m["layers"], "dim_feedforward": m["feedforward"],
                             "num_heads": 1, "kv_in_dim": m["mem_dim"], "rope_theta": 10000.0,
                             "feat_sizes": [grid, grid], "pos_enc_at_input": True, "pos_enc_at_attn": False,
                             "pos_enc_at_cross_attn_keys": True, "pos_enc_at_cross_attn_queries": False},
        "memory_encoder": {"out_dim": m["mem_dim"], "fuser_layers": 2, "fuser_kernel_size": 7,
                           "mask_downsampler_kernel_size": 3, "mask_downsampler_stride": 2,
                           "mask_downsampler_padding": 1, "mask_downsampler_total_stride": 16},
        "num_maskmem": 7, "sigmoid_scale_for_mem_enc": 20.0, "sigmoid_bias_for_mem_enc": -10.0,
        "use_mask_input_as_output_without_sam": True, "directly_add_no_mem_embed": True,
        "no_obj_embed_spatial": version21, "use_high_res_features_in_sam": True,
        "multimask_output_in_sam": True, "iou_prediction_use_sigmoid": True, "use_obj_ptrs_in_encoder": True,
        "add_tpos_enc_to_obj_ptrs": version21, "proj_tpos_enc_in_obj_ptrs": version21,
        "use_signed_tpos_enc_to_obj_ptrs": version21, "only_obj_ptrs_in_the_past_for_eval": True,
        "pred_obj_scores": True, "pred_obj_scores_mlp": True, "fixed_no_obj_ptr": True,
        "multimask_output_for_tracking": m.get("multimask_tracking", True), "use_multimask_token_for_obj_ptr": True,
        "multimask_min_pt_num": 0, "multimask_max_pt_num": 1, "use_mlp_for_obj_ptr_proj": True,
        "max_obj_ptrs_in_encoder": 16, "binarize_mask_from_pts_for_mem_enc": True,
        "dynamic_multimask_via_stability": m.get("dynamic_multimask", True), "dynamic_multimask_stability_delta": 0.05,
        "dynamic_multimask_stability_thresh": 0.98,
    }


def build(name, seed, version21=True, video=True):
    """Instantiates the official model and randomises it reproducibly (DESIGN.md §8)."""
    torch.manual_seed(seed)
    model = instantiate(model_config(name, version21, video), _recursive_=True)
    return randomize(model, seed)


def randomize(model, seed):
    """Gives every constant-initialised tensor noise, makes the object visible (object-score bias
    +10) and sharpens memory attention (q/k x4, cross-attention output x10), as DESIGN.md §8 says."""
    model.eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for key, p in model.state_dict().items():
            # Parameters the official code initialises to constants (zeros, ones, 1e-6 layer
            # scales) get noise so that every tensor is exercised.
            if p.numel() > 0 and torch.all(p == p.flatten()[0]):
                base = p.flatten()[0].item()
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            if key.endswith("gamma"):
                p.copy_(0.5 + 0.2 * torch.randn(p.shape, generator=g))
        # Random heads say "no object" everywhere; make the object visible.
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(10.0)
        # Sharpen memory attention so that memory bugs show in the outputs.
        for layer in model.memory_attention.layers:
            for attn in (layer.self_attn, layer.cross_attn_image):
                attn.q_proj.weight.mul_(4.0)
                attn.k_proj.weight.mul_(4.0)
            layer.cross_attn_image.out_proj.weight.mul_(10.0)
    return model


def load_trained(checkpoint, video=True):
    """The official model for a project checkpoint (e.g. Fixtures/models/synth.pt): the config
    named by its `<name>.json` sidecar, the checkpoint's weights, in eval mode."""
    sidecar = os.path.splitext(checkpoint)[0] + ".json"
    with open(sidecar) as fh:
        name = json.load(fh)["name"].split("_sam2")[0]
    model = instantiate(model_config(name, version21=True, video=video), _recursive_=True)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True)["model"])
    return model.eval()


def save_checkpoint(model, path):
    torch.save({"model": model.state_dict()}, path)


def write_swift_config(name, path, version21=True):
    with open(path, "w") as f:
        json.dump(swift_config(name, version21), f, indent=2, sort_keys=True)
        f.write("\n")
