//! The byte-stream traits on ferrio's streams: `futures-io`'s
//! `AsyncRead`, `AsyncBufRead` and `AsyncWrite` always, and tokio's (feature
//! `tokio-io`), all over the same [`FdStream`](super::compat::FdStream)
//! state, so each direction costs one copy whichever traits are used.

/// Implements the `futures-io` traits for a type with an `FdStream` in
/// `self.$field`, or reached through `self.<path>` written in brackets
/// (`[io()]`: a method returning `&mut FdStream`).
macro_rules! impl_futures_io {
    ($ty:ty, $field:ident, read) => {
        impl_futures_io!($ty, [$field], read);
    };
    ($ty:ty, $field:ident, write) => {
        impl_futures_io!($ty, [$field], write);
    };
    ($ty:ty, [$($field:tt)+], read) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.$($field)+.poll_read(cx, buf)
            }
        }

        impl futures_io::AsyncBufRead for $ty {
            fn poll_fill_buf(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<&[u8]>> {
                self.get_mut().$($field)+.poll_fill_buf(cx)
            }

            fn consume(mut self: std::pin::Pin<&mut Self>, amt: usize) {
                self.$($field)+.consume(amt)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.$($field)+.poll_read_buf(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncBufRead for $ty {
            fn poll_fill_buf(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<&[u8]>> {
                self.get_mut().$($field)+.poll_fill_buf(cx)
            }

            fn consume(mut self: std::pin::Pin<&mut Self>, amt: usize) {
                self.$($field)+.consume(amt)
            }
        }
    };
    ($ty:ty, [$($field:tt)+], write) => {
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.$($field)+.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.$($field)+.poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.$($field)+.poll_flush(cx)
            }

            fn poll_close(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.$($field)+.poll_close(cx)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.$($field)+.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.$($field)+.poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.$($field)+.poll_flush(cx)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.$($field)+.poll_close(cx)
            }
        }
    };
}
pub(crate) use impl_futures_io;
