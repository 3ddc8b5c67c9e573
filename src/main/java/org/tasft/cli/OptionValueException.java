package org.tasft.cli;

import picocli.CommandLine.TypeConversionException;

/**
 * A converter's complete one-line error, naming the option itself: {@link Main} prints it as it is, where picocli
 * would put "Invalid value for option '--x': " in front of a plain {@link TypeConversionException}'s message.
 */
final class OptionValueException extends TypeConversionException {
    OptionValueException(String message) {
        super(message);
    }
}
