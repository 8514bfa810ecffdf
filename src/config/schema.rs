//! Declarative config structs: each field names its property key and default once, and gets
//! parsing (errors name the key), `-p` printing and unknown-key detection from that.

/// Declares a config struct.
///
/// ```ignore
/// config_struct! {
///     /// Doc.
///     pub struct NamesrvConfig {
///         /// Doc.
///         listen_port: u16 = "listenPort", 9876;
///     }
/// }
/// ```
#[macro_export]
macro_rules! config_struct {
    (
        $(#[$m:meta])*
        pub struct $name:ident {
            $( $(#[$fm:meta])* $field:ident : $ty:ty = $key:literal, $default:expr; )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name { $( $(#[$fm])* pub $field: $ty ),* }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default ),* }
            }
        }

        impl $name {
            /// Every key this struct understands, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Sets one key; `Ok(false)` when the key is not one of ours.
            pub fn set(&mut self, key: &str, value: &str) -> Result<bool, (&'static str, String)> {
                match key {
                    $( $key => {
                        self.$field = <$ty as $crate::config::ConfigValue>::parse_value(value)
                            .map_err(|expected| ($key, expected))?;
                        Ok(true)
                    } )*
                    _ => Ok(false),
                }
            }

            /// Every effective `key=value`, as `-p` prints them.
            pub fn entries(&self) -> Vec<(&'static str, String)> {
                vec![$( ($key, $crate::config::ConfigValue::render(&self.$field)) ),*]
            }
        }
    };
}
