//! Scanning a card's QR code with the computer's camera. The page decodes the picture itself
//! (rqrr); nothing is recorded or sent, and the camera stops once a code is read, on "Stop the
//! camera", or when the form goes away. A handheld scanner needs none of this: it types the
//! code into the field like a keyboard.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The text of the first QR code found in a greyscale picture `width` pixels wide.
pub fn decode_qr(luma: &[u8], width: usize, height: usize) -> Option<String> {
    if width == 0 || height == 0 || luma.len() < width * height {
        return None;
    }
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| luma[y * width + x]);
    image
        .detect_grids()
        .into_iter()
        .find_map(|grid| grid.decode().ok().map(|(_, text)| text))
}

/// RGBA pixels, as a canvas gives them, in grey.
pub fn grey(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .map(|p| {
            let sum = u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114;
            (sum / 1000) as u8
        })
        .collect()
}

/// "Scan with the camera": shows what the camera sees until a QR code is read, then hands its
/// text to `found`.
#[component]
pub fn CameraScan(
    /// The button's id.
    id: &'static str,
    /// Called with the QR code's text once it is read.
    found: Callback<String>,
) -> impl IntoView {
    let video_ref = NodeRef::<leptos::html::Video>::new();
    let scanning = RwSignal::new(false);
    let message = RwSignal::new(None::<String>);
    let stream = StoredValue::new_local(None::<web_sys::MediaStream>);
    let timer = StoredValue::new_local(None::<IntervalHandle>);
    let stop = move || {
        if let Some(t) = timer.get_value() {
            t.clear();
        }
        timer.set_value(None);
        if let Some(s) = stream.get_value() {
            for track in s.get_tracks().iter() {
                if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
                    track.stop();
                }
            }
        }
        stream.set_value(None);
        scanning.set(false);
    };
    let start = move |_| {
        message.set(None);
        spawn_local(async move {
            let camera = match open_camera().await {
                Ok(camera) => camera,
                Err(why) => return message.set(Some(why)),
            };
            let Some(video) = video_ref.get_untracked() else {
                return;
            };
            video.set_src_object(Some(&camera));
            let _ = video.play();
            stream.set_value(Some(camera));
            scanning.set(true);
            let look = move || {
                let Some(video) = video_ref.get_untracked() else {
                    return;
                };
                if let Some(text) = read_frame(&video) {
                    stop();
                    found.run(text);
                }
            };
            timer.set_value(set_interval_with_handle(look, Duration::from_millis(250)).ok());
        });
    };
    on_cleanup(stop);
    view! {
        <div class="camera-scan">
            <button type="button" id=id class="secondary" hidden=move || scanning.get() on:click=start>
                "Scan with the camera"
            </button>
            <video node_ref=video_ref class="camera" autoplay=true muted=true hidden=move || !scanning.get()
                aria-label="What the camera sees"></video>
            {move || scanning.get().then(|| view! {
                <p class="hint">"Hold the card's square code in front of the camera."</p>
                <button type="button" class="secondary" on:click=move |_| stop()>"Stop the camera"</button>
            })}
            {move || message.get().map(|m| view! { <p class="error camera-error" role="alert">{m}</p> })}
        </div>
    }
}

/// The camera's video, without sound; says in words why there is none.
async fn open_camera() -> Result<web_sys::MediaStream, String> {
    let none = || {
        "No camera was found. Type what the card's code says instead, or use the desk's scanner."
            .to_string()
    };
    let devices = web_sys::window()
        .ok_or_else(none)?
        .navigator()
        .media_devices()
        .map_err(|_| none())?;
    let constraints = web_sys::MediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    constraints.set_audio(&JsValue::FALSE);
    let asked = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(|_| none())?;
    let stream = JsFuture::from(asked).await.map_err(|e| {
        let name = js_sys::Reflect::get(&e, &JsValue::from_str("name"))
            .ok()
            .and_then(|n| n.as_string())
            .unwrap_or_default();
        if name == "NotAllowedError" {
            "This computer does not let the window use its camera. Type what the card's code says instead.".to_string()
        } else {
            none()
        }
    })?;
    stream.dyn_into().map_err(|_| none())
}

/// The QR code in the video's current picture, if one is readable.
fn read_frame(video: &web_sys::HtmlVideoElement) -> Option<String> {
    let (width, height) = (video.video_width(), video.video_height());
    if width == 0 || height == 0 {
        return None;
    }
    let canvas: web_sys::HtmlCanvasElement = web_sys::window()?
        .document()?
        .create_element("canvas")
        .ok()?
        .dyn_into()
        .ok()?;
    canvas.set_width(width);
    canvas.set_height(height);
    let context: web_sys::CanvasRenderingContext2d =
        canvas.get_context("2d").ok()??.dyn_into().ok()?;
    context
        .draw_image_with_html_video_element(video, 0.0, 0.0)
        .ok()?;
    let pixels = context
        .get_image_data(0.0, 0.0, f64::from(width), f64::from(height))
        .ok()?
        .data();
    decode_qr(&grey(&pixels), width as usize, height as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A QR code of `text` drawn black on white, `scale` pixels a module, with a quiet zone.
    fn picture(text: &str, scale: usize) -> (Vec<u8>, usize) {
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let modules = code.width();
        let colors = code.to_colors();
        let side = (modules + 8) * scale;
        let mut luma = vec![255u8; side * side];
        for y in 0..side {
            for x in 0..side {
                let (mx, my) = (x / scale, y / scale);
                if (4..modules + 4).contains(&mx)
                    && (4..modules + 4).contains(&my)
                    && colors[(my - 4) * modules + (mx - 4)] == qrcode::Color::Dark
                {
                    luma[y * side + x] = 0;
                }
            }
        }
        (luma, side)
    }

    #[test]
    fn a_cards_code_reads_back_from_a_picture_of_it() {
        let card = "CL1:3DC63F2F52C8C544E65EDE9C216A90C7:00112233445566778899AABBCCDDEEFF:K7";
        let (luma, side) = picture(card, 4);
        assert_eq!(decode_qr(&luma, side, side).as_deref(), Some(card));
        // The same picture as a canvas gives it (RGBA) reads the same once grey.
        let rgba: Vec<u8> = luma.iter().flat_map(|&v| [v, v, v, 255]).collect();
        assert_eq!(decode_qr(&grey(&rgba), side, side).as_deref(), Some(card));
    }

    #[test]
    fn a_picture_without_a_code_or_of_the_wrong_size_reads_nothing() {
        assert_eq!(decode_qr(&vec![255; 64 * 64], 64, 64), None);
        assert_eq!(decode_qr(&[0; 10], 64, 64), None);
        assert_eq!(decode_qr(&[], 0, 0), None);
    }
}
