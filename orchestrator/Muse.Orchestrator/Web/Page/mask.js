// Painting an inpainting mask over an image: strokes on a transparent canvas at the image's own pixel size, exported as
// the black (keep) and white (regenerate) PNG that EditRequest.inpaint.mask wants.

export class MaskPainter {
  constructor(imageCanvas, maskCanvas) {
    this.imageCanvas = imageCanvas;
    this.maskCanvas = maskCanvas;
    this.tool = 'brush';
    this.size = 16; // in CSS pixels of the canvas as shown
    this.painted = false;
    this.last = null;
    maskCanvas.addEventListener('pointerdown', (e) => this.#down(e));
    maskCanvas.addEventListener('pointermove', (e) => this.#move(e));
    for (const type of ['pointerup', 'pointercancel', 'pointerleave']) maskCanvas.addEventListener(type, () => { this.last = null; });
  }

  load(image) {
    for (const canvas of [this.imageCanvas, this.maskCanvas]) {
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
    }
    this.imageCanvas.getContext('2d').drawImage(image, 0, 0);
    this.clear();
  }

  clear() {
    this.maskCanvas.getContext('2d').clearRect(0, 0, this.maskCanvas.width, this.maskCanvas.height);
    this.painted = false;
  }

  isEmpty() {
    if (!this.painted) return true;
    const { data } = this.maskCanvas.getContext('2d').getImageData(0, 0, this.maskCanvas.width, this.maskCanvas.height);
    for (let i = 3; i < data.length; i += 4) if (data[i] >= 128) return false;
    return true;
  }

  /** The mask as PNG bytes: white where painted, black elsewhere, the image's exact size. */
  async maskPng() {
    const { width, height } = this.maskCanvas;
    const white = new OffscreenCanvas(width, height);
    const w = white.getContext('2d');
    w.drawImage(this.maskCanvas, 0, 0);
    w.globalCompositeOperation = 'source-in';
    w.fillStyle = '#fff';
    w.fillRect(0, 0, width, height);
    const out = new OffscreenCanvas(width, height);
    const o = out.getContext('2d');
    o.fillStyle = '#000';
    o.fillRect(0, 0, width, height);
    o.drawImage(white, 0, 0);
    const blob = await out.convertToBlob({ type: 'image/png' });
    return new Uint8Array(await blob.arrayBuffer());
  }

  #point(e) {
    const rect = this.maskCanvas.getBoundingClientRect();
    const scale = this.maskCanvas.width / rect.width;
    return { x: (e.clientX - rect.left) * scale, y: (e.clientY - rect.top) * scale, scale };
  }

  #down(e) {
    e.preventDefault();
    this.maskCanvas.setPointerCapture(e.pointerId);
    this.last = this.#point(e);
    this.#stroke(this.last, this.last);
  }

  #move(e) {
    if (!this.last) return;
    const point = this.#point(e);
    this.#stroke(this.last, point);
    this.last = point;
  }

  #stroke(from, to) {
    const ctx = this.maskCanvas.getContext('2d');
    ctx.globalCompositeOperation = this.tool === 'eraser' ? 'destination-out' : 'source-over';
    ctx.strokeStyle = '#ff3b6b';
    ctx.lineWidth = this.size * to.scale;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x + 0.01, to.y);
    ctx.stroke();
    if (this.tool !== 'eraser') this.painted = true;
  }
}
