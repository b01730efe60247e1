package dev.moeshard.convert;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * A conversion worked out from headers alone, before a byte is written: its independent {@link WorkUnit}s and a
 * fingerprint of everything the units depend on (the input headers, the request's options, the library version), so
 * that workers that planned the same job agree on it and a unit started against another plan can be told apart.
 * Planning the same request over the same input gives the same plan, units in the same order.
 *
 * @param job {@code to-grouped} or {@code to-hf}
 * @param input the input, as given
 * @param output the output directory
 * @param fingerprint hex SHA-256 of the input headers, the options and the version
 * @param units the units, in the order a single process runs them
 */
public record ConversionPlan(String job, String input, String output, String fingerprint, List<WorkUnit> units) {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public ConversionPlan {
        units = List.copyOf(units);
    }

    /** The tensor bytes all units write. */
    public long outputBytes() {
        return units.stream().mapToLong(WorkUnit::outputBytes).sum();
    }

    /**
     * Writes the plan as JSON to {@code out}, streamed: the plan of a terabyte checkpoint at hundreds of ranks lists
     * tens of millions of byte ranges, more than one string can hold.
     */
    public void writeJson(OutputStream out) {
        try {
            JSON.writeValue(out, this);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the plan as JSON: " + e.getMessage(), e);
        }
    }

    /** The plan as JSON, the form another process reads it in. */
    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException("cannot write the plan as JSON: " + e.getMessage(), e);
        }
    }

    /** A plan from {@link #toJson}'s form. */
    public static ConversionPlan fromJson(String json) {
        try {
            return JSON.readValue(json, ConversionPlan.class);
        } catch (JsonProcessingException e) {
            throw new InvalidInputException("plan", List.of("not a moeshard plan: " + e.getOriginalMessage()));
        }
    }
}
