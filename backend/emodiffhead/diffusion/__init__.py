"""The EMOdiffhead diffusion renderer (torch + diffusers live only in this package).

Modules:
    audio_features.py  log-mel windows around each video frame (numpy)
    metrics.py         PSNR / SSIM (numpy)
    models.py          EmoDenoiser: diffusers UNet2DConditionModel + condition encoders + ReferenceNet
    pipeline.py        EmoDiffHeadPipeline (DiffusionPipeline): windows, motion frames, CFG, callbacks
    config.py          configs as data (configs/tiny.json, small.json, base.json)
    data.py            the prepared dataset (face crops, tracks, audio features, guidance images)
    prepare.py         videos -> dataset
    train.py           training with Hugging Face accelerate (setup / step / save)
    train_args.py      its command-line arguments (torch-free; the CLI takes them from here)
    renderer.py        the "diffusion" renderer used by render_video
    refiner_region.py  the refiner's region box, crops and soft mask (numpy + cv2)
    refiner_data.py    one person's clip -> aligned (real, warp) region crops; mixed-crop batches
    refiner_model.py   RefinerNet: a small conditional UNet predicting the residual real - warp
    refiner.py         residual diffusion with an SDEdit start from the warp frame; weights I/O
    refiner_train.py   personal refiner training (CPU budget, resume, ETA, validation)
    refiner_renderer.py the "refiner" renderer: warp frame + refined mouth (or face)
    identity.py        face signatures and the identity guard

Importing this package does not import torch; its modules do.
"""
