"""The imagine bot: VibeDream Z-Image Turbo text-to-image generation for Discord servers."""
