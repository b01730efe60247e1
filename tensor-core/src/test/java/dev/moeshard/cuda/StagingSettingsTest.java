package dev.moeshard.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class StagingSettingsTest {
    @AfterEach
    void clearProperties() {
        System.clearProperty(StagingSettings.CHUNK_MIB_PROPERTY);
        System.clearProperty(StagingSettings.SLOTS_PROPERTY);
        System.clearProperty(StagingSettings.THREADS_PROPERTY);
    }

    @Test
    void unsetPropertiesGiveTheDefaults() {
        StagingSettings s = StagingSettings.fromSystemProperties();
        assertEquals(StagingSettings.DEFAULT_CHUNK_MIB << 20, s.chunkBytes());
        int threads = Math.min(Runtime.getRuntime().availableProcessors(), StagingSettings.MAX_DEFAULT_THREADS);
        assertEquals(threads, s.hostThreads());
        assertEquals(threads + StagingSettings.SPARE_SLOTS, s.slots());
    }

    @Test
    void propertiesOverrideEachSetting() {
        System.setProperty(StagingSettings.CHUNK_MIB_PROPERTY, "4");
        System.setProperty(StagingSettings.SLOTS_PROPERTY, " 6 ");
        System.setProperty(StagingSettings.THREADS_PROPERTY, "2");
        assertEquals(new StagingSettings(4L << 20, 6, 2), StagingSettings.fromSystemProperties());
    }

    @Test
    void slotsFollowTheThreadsUnlessSet() {
        System.setProperty(StagingSettings.THREADS_PROPERTY, "3");
        assertEquals(3 + StagingSettings.SPARE_SLOTS, StagingSettings.fromSystemProperties().slots());
    }

    @Test
    void aPropertyThatIsNotANumberIsNamedInTheError() {
        System.setProperty(StagingSettings.SLOTS_PROPERTY, "three");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                StagingSettings::fromSystemProperties);
        assertTrue(e.getMessage().contains(StagingSettings.SLOTS_PROPERTY) && e.getMessage().contains("'three'"),
                e.getMessage());
    }

    @Test
    void settingsThatCannotOverlapAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new StagingSettings(0, 3, 1));
        assertThrows(IllegalArgumentException.class, () -> new StagingSettings(1 << 20, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new StagingSettings(1 << 20, 3, 0));
        System.setProperty(StagingSettings.CHUNK_MIB_PROPERTY, "-1");
        assertThrows(IllegalArgumentException.class, StagingSettings::fromSystemProperties);
    }
}
