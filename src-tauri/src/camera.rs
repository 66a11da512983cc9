//! The camera, for scanning a patient's card: the web view may stream video (never sound) to
//! the window's own page, which decodes the card's QR code in place. Nothing is recorded or
//! sent; the page stops the camera once it has read a code or is closed.

/// Lets the window's web views use the camera for video alone; a request that also asks for the
/// microphone, or for the screen, is refused.
pub fn allow_card_scanning(app: &tauri::App) {
    use tauri::Manager;
    for window in app.webview_windows().values() {
        let done = window.with_webview(|view| {
            #[cfg(target_os = "linux")]
            {
                use webkit2gtk::glib::prelude::Cast;
                use webkit2gtk::{
                    PermissionRequestExt, SettingsExt, UserMediaPermissionRequest,
                    UserMediaPermissionRequestExt, WebViewExt,
                };
                let view = view.inner();
                if let Some(settings) = WebViewExt::settings(&view) {
                    settings.set_enable_media_stream(true);
                }
                view.connect_permission_request(|_, request| {
                    // Other kinds of request keep WebKit's own answer.
                    let Some(media) = request.downcast_ref::<UserMediaPermissionRequest>() else {
                        return false;
                    };
                    if media.is_for_video_device() && !media.is_for_audio_device() {
                        request.allow();
                    } else {
                        request.deny();
                    }
                    true
                });
            }
            #[cfg(not(target_os = "linux"))]
            let _ = view;
        });
        if let Err(e) = done {
            tracing::warn!(error = %e, "the window's camera for scanning cards is not available");
        }
    }
}
