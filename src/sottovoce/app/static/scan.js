// Linking a device by scanning the QR code it shows (docs/app.md, "Devices").
// The camera (getUserMedia) or a chosen picture is drawn on a canvas and posted as
// one luminance byte per pixel to this app's own process, which decodes it
// (app/scan.py): Chromium on Linux has no BarcodeDetector. A code that is read
// fills the code field; linking still waits for the person to press "Link device".
// Uses $ and notice() from app.js, which loads first.
"use strict";

// The process takes frames up to 2048 px a side; 1280 reads the code well and
// keeps each upload near 1 MiB.
const SCAN_MAX_SIDE = 1280;
const SCAN_EVERY_MS = 250;
const scanner = { stream: null, timer: null };

function scanStatus(text) { $("scan-status").textContent = text; }

function luminance(source, width, height) {
  const scale = Math.min(1, SCAN_MAX_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "#fff";  // a transparent picture reads as white, not black
  context.fillRect(0, 0, w, h);
  context.drawImage(source, 0, 0, w, h);
  const rgba = context.getImageData(0, 0, w, h).data;
  const grey = new Uint8Array(w * h);
  for (let i = 0, j = 0; j < grey.length; i += 4, j += 1) {
    grey[j] = (rgba[i] * 77 + rgba[i + 1] * 150 + rgba[i + 2] * 29) >> 8;  // BT.601
  }
  return { grey, w, h };
}

async function readCode(source, width, height) {
  const { grey, w, h } = luminance(source, width, height);
  const response = await fetch(`/api/devices/scan?width=${w}&height=${h}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/octet-stream" },
    body: grey,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `reading the code failed (${response.status})`);
  return data;
}

function useCode(code) {
  $("link-code").value = code;
  scanStatus("Code read. Check that the new device is yours, then press Link device.");
  $("link-form").querySelector("button[type='submit']").focus();
}

function stopScanning() {
  clearTimeout(scanner.timer);
  scanner.timer = null;
  if (scanner.stream) for (const track of scanner.stream.getTracks()) track.stop();
  scanner.stream = null;
  const video = $("scan-video");
  video.srcObject = null;
  video.hidden = true;
  $("scan-start").textContent = "Scan code";
}

async function scanFrame() {
  const video = $("scan-video");
  if (!scanner.stream) return;
  try {
    if (video.readyState >= video.HAVE_CURRENT_DATA && video.videoWidth) {
      const found = await readCode(video, video.videoWidth, video.videoHeight);
      if (!scanner.stream) return;
      if (found.code) { stopScanning(); useCode(found.code); return; }
      scanStatus(found.qr ? "That QR code is not a Sottovoce linking code." : "Looking for the code…");
    }
  } catch (e) {
    stopScanning();
    scanStatus("");
    notice(e.message);
    return;
  }
  scanner.timer = setTimeout(scanFrame, SCAN_EVERY_MS);
}

async function startScanning() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    scanStatus("This browser offers no camera here: enter the code or choose a picture of it.");
    return;
  }
  try {
    scanner.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" }, audio: false,
    });
  } catch (e) {
    scanStatus(`The camera is not available (${e.name}): enter the code or choose a picture of it.`);
    return;
  }
  const video = $("scan-video");
  video.srcObject = scanner.stream;
  video.hidden = false;
  $("scan-start").textContent = "Stop scanning";
  scanStatus("Hold the new device's code in front of the camera.");
  try { await video.play(); } catch (e) { /* frames still arrive while muted */ }
  scanFrame();
}

$("scan-start").addEventListener("click", () => {
  if (scanner.stream) { stopScanning(); scanStatus(""); } else startScanning();
});
$("devices-panel").addEventListener("toggle", () => { if (!$("devices-panel").open) stopScanning(); });
$("scan-file").addEventListener("change", async () => {
  const file = $("scan-file").files[0];
  if (!file) return;
  stopScanning();
  scanStatus("Reading the picture…");
  try {
    const picture = await createImageBitmap(file);
    const found = await readCode(picture, picture.width, picture.height);
    picture.close();
    if (found.code) useCode(found.code);
    else scanStatus(found.qr ? "That QR code is not a Sottovoce linking code." : "No code found in that picture.");
  } catch (e) {
    scanStatus(`That picture could not be read (${e.message}).`);
  }
  $("scan-file").value = "";
});
$("signout").addEventListener("click", stopScanning);  // locking turns the camera off
