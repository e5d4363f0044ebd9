"""The EMOdiffhead diffusion renderer (torch + diffusers live only in this package).

Modules:
    audio_features.py  log-mel windows around each video frame (numpy)
    metrics.py         PSNR / SSIM (numpy)
    models.py          EmoDenoiser: diffusers UNet2DConditionModel + condition encoders + ReferenceNet
    pipeline.py        EmoDiffHeadPipeline (DiffusionPipeline): windows, motion frames, CFG, callbacks
    config.py          configs as data (configs/tiny.json, small.json, base.json)
    data.py            the prepared dataset (face crops, tracks, audio features, guidance images)
    prepare.py         videos -> dataset
    train.py           training with Hugging Face accelerate
    renderer.py        the "diffusion" renderer used by render_video

Importing this package does not import torch; its modules do.
"""
